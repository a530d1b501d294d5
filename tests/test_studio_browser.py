"""The studio in headless Chromium: upload -> analyse -> mix -> play -> change a fader -> re-render -> download.

Needs Debian's chromium (scripts/install_system_deps.sh installs it) and Playwright's Python package (the test
extra); set MIXDOWN_SCREENSHOTS=docs/images to refresh the documentation's screenshot.
"""

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium: run scripts/install_system_deps.sh")
# Chromium as root in a container, with nothing that calls home (this machine's network is closed)
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@contextlib.contextmanager
def _serving(data, *options):
    """``mixdown serve --data data *options`` on a free port of 127.0.0.1; yields its address."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mixdown.cli", "serve", "--data", str(data),
                               "--port", str(port), *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/api/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < end, "the studio did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def studio_url(tmp_path):
    with _serving(tmp_path / "data") as url:
        yield url


@pytest.fixture
def page(tmp_path):
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
        yield page
        browser.close()
        assert errors == [], errors  # no script errors, blocked loads (CSP) or dialogs on the page


def _wait_for(page, expression, timeout=30000):
    """``page.wait_for_function`` without eval in the page, which the studio's Content-Security-Policy forbids:
    the expression is polled through the DevTools protocol instead."""
    end = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < end, f"still not true after {timeout / 1000:g} s: {expression}"
        page.wait_for_timeout(100)


def _screenshot(page, name):
    folder = os.environ.get("MIXDOWN_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_upload_mix_play_edit_and_download(studio_url, page, tmp_path):
    from mixdown.api import demo_stems_path

    page.goto(studio_url)
    page.fill("#new-name", "Final Step")
    page.click("#new-project button")
    page.wait_for_selector("#project:not([hidden])")
    stems = sorted(demo_stems_path().iterdir())[4:10]  # hats, bass, pads: six tracks keep it quick
    page.set_input_files("#stem-input", [str(p) for p in stems])
    _wait_for(page, "document.querySelectorAll('#tracks tbody tr').length === 6", timeout=60000)
    page.click("#analyse")
    _wait_for(page, "document.querySelector('#job-stage').textContent === 'analyse: done'", timeout=120000)
    assert "bass" in page.inner_text("#tracks tbody tr:nth-child(4)")  # 08_bass, detected
    page.select_option("select[name='priority-08_bass']", "lead")
    page.click("#mix")
    page.wait_for_selector("#mixer-panel:not([hidden])", timeout=180000)
    assert page.locator(".strip[data-track]").count() == 6

    page.click("#play")
    _wait_for(page, "document.querySelector('#clock').textContent !== '0:00'", timeout=20000)
    at = page.evaluate("state.players.mix.element.currentTime")
    page.check("input[name=ab][value=raw]")  # A/B: the raw sum takes over from the same place
    page.wait_for_timeout(300)
    heard = page.evaluate("({source: state.source, mix: state.players.mix.element.paused, "
                          "raw: state.players.raw.element.paused, t: state.players.raw.element.currentTime, "
                          "gains: [state.players.mix.gain.gain.value, state.players.raw.gain.gain.value]})")
    assert heard["source"] == "raw" and heard["mix"] and not heard["raw"], heard
    assert at <= heard["t"] < at + 1.5 and heard["gains"] == [0, 1]  # one heard, at the mix's loudness
    page.check("input[name=ab][value=mix]")

    fader = page.locator(".strip[data-track='08_bass'] input[aria-label=fader]")
    before = float(fader.input_value())
    fader.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); }",
                   before - 6)
    _wait_for(page, "document.querySelector('#render-state').textContent.startsWith('re-rendered')",
                           timeout=180000)
    _screenshot(page, "studio.png")
    levels = page.evaluate("({raw: state.players.raw.level, now: state.version.integrated_lufs, "
                           "first: state.version.mix_lufs})")
    assert levels["now"] < levels["first"] - 0.5  # the bass came down: the edited mix is quieter ...
    assert levels["raw"] == pytest.approx(10 ** ((levels["now"] - levels["first"]) / 20))  # ... and so is its A/B
    with page.expect_download() as download:
        page.click("#dl-mix")
    path = tmp_path / "downloaded.wav"
    download.value.save_as(path)
    audio, rate = sf.read(path)
    assert download.value.suggested_filename == "Final_Step-v2-mix.wav" and audio.shape == (15 * rate, 2)  # the edit
    with page.expect_download() as recipe:
        page.click("#dl-recipe")
    import json

    edited = json.loads(Path(recipe.value.path()).read_text())
    bass = next(t for t in edited["tracks"] if t["name"] == "08_bass")
    gain = next(s for s in bass["chain"] if s["type"] == "gain")["params"]["gain_db"]
    assert gain == pytest.approx(before - 6, abs=0.01)  # the download is the edited, re-rendered mix's recipe

    master_gain = page.evaluate("state.recipe.master.chain.find((s) => s.type === 'gain').params.gain_db")
    page.click("#remaster")  # the edit missed the target: master the edited mix again
    _wait_for(page, "document.querySelector('#loudness').textContent.includes('mastered again')",
                           timeout=180000)
    again = page.evaluate("({now: state.version.integrated_lufs, first: state.version.mix_lufs, "
                          "gain: state.recipe.master.chain.find((s) => s.type === 'gain').params.gain_db})")
    assert again["now"] == pytest.approx(-14.0, abs=0.1) and again["gain"] > master_gain  # the project's target
    bass = page.locator(".strip[data-track='08_bass'] input[aria-label=fader]")
    assert float(bass.input_value()) == pytest.approx(before - 6)  # the edit stays


def test_a_listening_test_from_admin_to_results(studio_url, page, tmp_path):
    import httpx

    from tests.test_studio_api import _wav

    project = httpx.post(f"{studio_url}/api/projects", json={"name": "Tones"}).json()
    for name, f in (("bass", 80), ("keys", 440), ("lead", 880)):
        httpx.post(f"{studio_url}/api/projects/{project['id']}/files", content=_wav(f, 6.0),
                   headers={"X-Filename": f"{name}.wav"}).raise_for_status()
    for method in ("rules", "dmc"):
        job = httpx.post(f"{studio_url}/api/projects/{project['id']}/mix", json={"method": method}).json()
        end = time.monotonic() + 120
        while httpx.get(f"{studio_url}/api/jobs/{job['id']}").json()["status"] != "done":
            assert time.monotonic() < end, f"the {method} mix did not finish"
            time.sleep(0.2)
    token = (tmp_path / "data" / "admin_token").read_text().strip()

    page.goto(f"{studio_url}/admin")
    page.fill("#token", token)
    page.click("#token-form button")
    page.wait_for_selector("input[name=mix]")
    assert page.locator("input[name=mix]").count() == 2
    page.fill("#test-seconds", "3")
    page.click("#create")
    link = page.wait_for_selector(".participant-link").get_attribute("href")

    page.goto(studio_url + link)
    page.click("#begin")
    versions = page.locator("#ratings tbody tr")
    assert versions.count() == 4  # rules, dmc, raw sum and the anchor
    assert page.is_disabled("#next")
    for k in range(versions.count()):
        versions.nth(k).locator("button").click()
        for slider in versions.nth(k).locator("input[type=range]").all():
            slider.fill(str(20 + 20 * k))
    _screenshot(page, "listening_test.png")
    page.click("#next")
    page.wait_for_selector("#done:not([hidden])")

    page.goto(f"{studio_url}/admin")
    page.click("#tests button")
    page.wait_for_selector("#results-panel:not([hidden]) #results tbody tr")
    rows = page.locator("#results tbody tr").all_inner_texts()
    assert len(rows) == 3 * 4 and all("\t1\t" in r for r in rows)  # 3 criteria x 4 conditions, one rating each
    assert sorted(float(r.split("\t")[3]) for r in rows if r.startswith("clarity")) == [20.0, 40.0, 60.0, 80.0]
    _wait_for(page, "document.querySelector('#results-plot').naturalWidth > 0")
    _screenshot(page, "listening_results.png")


def _mixed_project(url, name="Tones", methods=("rules",), headers=None):
    """A project of three tones mixed with each of ``methods``, through the API: ``(project, [mix job ids])``."""
    import httpx

    from tests.test_studio_api import _wav

    headers = headers or {}
    project = httpx.post(f"{url}/api/projects", json={"name": name}, headers=headers).json()
    for track, f in (("bass", 80), ("keys", 440), ("lead", 880)):
        httpx.post(f"{url}/api/projects/{project['id']}/files", content=_wav(f, 4.0),
                   headers={"X-Filename": f"{track}.wav", **headers}).raise_for_status()
    jobs = []
    for method in methods:
        job = httpx.post(f"{url}/api/projects/{project['id']}/mix", json={"method": method}, headers=headers).json()
        end = time.monotonic() + 120
        while httpx.get(f"{url}/api/jobs/{job['id']}", headers=headers).json()["status"] != "done":
            assert time.monotonic() < end, f"the {method} mix did not finish"
            time.sleep(0.2)
        jobs.append(job["id"])
    return project, jobs


def test_a_criterion_with_markup_shows_as_text_to_participants(studio_url, page, tmp_path):
    """The admin's criteria reach every participant's page: set as text, a criterion that is markup stays text
    (no element made, no script run; the page fixture fails on any dialog)."""
    import httpx

    project, jobs = _mixed_project(studio_url)
    token = (tmp_path / "data" / "admin_token").read_text().strip()
    attack = "<img src=x onerror=alert(1)>"
    test = httpx.post(f"{studio_url}/api/tests", headers={"Authorization": f"Bearer {token}"}, json={
        "name": "<b>bold</b> test", "criteria": [attack, "clarity"], "seconds": 2, "hidden_reference": False,
        "anchor": False, "trials": [{"project_id": project["id"], "mixes": jobs, "raw_sum": True}]})
    assert test.status_code == 201, test.text
    page.goto(studio_url + test.json()["link"])
    page.click("#begin")
    page.wait_for_selector("#ratings tbody tr")
    assert page.locator("#ratings thead th").all_inner_texts() == ["Version", attack, "clarity"]
    assert page.locator("#ratings img, #test-name b").count() == 0  # nothing was parsed as markup
    assert page.inner_text("#criteria") == f"{attack}, clarity" and page.inner_text("#test-name") == "<b>bold</b> test"
    page.locator("#ratings tbody tr").first.locator("button").click()
    page.wait_for_timeout(500)  # time for an injected handler to have fired


def test_a_studio_that_asks_for_its_token_logs_in_by_form_and_works(page, tmp_path):
    """``--require-token``: the page answers with the login form; the token sets the cookie and the studio's own
    requests (with their Origin) go through; a wrong token is refused."""
    with _serving(tmp_path / "data", "--require-token", "--token", "a-token-for-the-browser") as url:
        page.goto(url)
        assert page.locator("form[action='/login']").count() == 1 and page.locator("#project-select").count() == 0
        page.fill("input[name=token]", "wrong")
        page.click("form[action='/login'] button")
        assert "not this studio's" in page.inner_text("#message")
        page.fill("input[name=token]", "a-token-for-the-browser")
        page.click("form[action='/login'] button")
        page.wait_for_selector("#new-project")
        page.fill("#new-name", "Logged in")
        page.click("#new-project button")
        page.wait_for_selector("#project:not([hidden])")
        assert page.inner_text("#project-name") == "Logged in"
        cookie = next(c for c in page.context.cookies() if c["name"] == "mixdown_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.goto("about:blank")  # the project's event stream ends before the server stops


def _fader(page, track, label="fader"):
    return page.locator(f".strip[data-track='{track}'] input[aria-label='{label}']")


def _move(locator, value):
    """Set a slider as a user does: the page hears input, then change (which schedules the re-render)."""
    locator.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); "
                     "e.dispatchEvent(new Event('change')); }", value)


def _queue_a_long_mix(url):
    """A mix of another project, long enough that jobs queued after it wait a while (the worker runs one at a
    time): the page's render is still to come while the test looks."""
    import httpx

    from tests.test_studio_api import _wav

    other = httpx.post(f"{url}/api/projects", json={"name": "Long"}).json()
    for track, f in (("bass", 80), ("keys", 440), ("lead", 880)):
        httpx.post(f"{url}/api/projects/{other['id']}/files", content=_wav(f, 40.0),
                   headers={"X-Filename": f"{track}.wav"}).raise_for_status()
    return httpx.post(f"{url}/api/projects/{other['id']}/mix", json={"method": "rules"}).json()


def test_a_reload_shows_the_latest_edit_downloads_say_their_version_and_versions_restore(studio_url, page):
    """Faders, player and downloads show the current version after a reload; while an edit renders the downloads
    say they are the previous version (and their file names carry its number); restoring version 1 brings its
    faders, mix and downloads back, for the next reload too, and keeps version 2 in the list."""
    project, (mix_id,) = _mixed_project(studio_url, "Kept")
    page.goto(f"{studio_url}/?project={project['id']}")
    page.wait_for_selector("#mixer-panel:not([hidden])")
    assert page.inner_text("#dl-version") == "Downloads: version 1"
    before = float(_fader(page, "bass").input_value())

    _queue_a_long_mix(studio_url)
    _move(_fader(page, "bass"), before - 6)
    _wait_for(page, "document.querySelector('#dl-version').textContent.includes('rendering version 2')")
    assert page.inner_text("#dl-version") == "Downloads: version 1 (rendering version 2…)"
    assert page.get_attribute("#dl-mix", "href") == f"/api/jobs/{mix_id}/files/mix?download=1"
    assert page.inner_text("#dl-mix") == "Download mix (version 1)"
    assert "version 2 is still being made" in page.get_attribute("#dl-mix", "title")
    _wait_for(page, "document.querySelector('#render-state').textContent.startsWith('re-rendered')", timeout=240000)
    assert page.inner_text("#dl-version") == "Downloads: version 2"
    edited = page.evaluate("state.version.job")
    assert page.get_attribute("#dl-mix", "href") == f"/api/jobs/{edited}/files/mix?download=1"
    with page.expect_download() as download:
        page.click("#dl-mix")
    assert download.value.suggested_filename == "Kept-v2-mix.wav"

    page.reload()
    page.wait_for_selector("#mixer-panel:not([hidden])")
    _wait_for(page, "state.version && state.version.number === 2")
    assert float(_fader(page, "bass").input_value()) == pytest.approx(before - 6)  # the fader as edited
    assert page.evaluate("state.players.mix.element.src").endswith(f"/api/jobs/{edited}/files/mix")  # the player
    assert page.get_attribute("#dl-mix", "href") == f"/api/jobs/{edited}/files/mix?download=1"  # the download
    assert page.get_attribute("#dl-recipe", "href") == f"/api/jobs/{edited}/files/recipe?download=1"
    versions = page.locator("#versions li").all_inner_texts()
    assert len(versions) == 2 and "edit: bass -6 dB" in versions[0] and "current" in versions[0]
    assert "first mix (rules)" in versions[1] and "Restore" in versions[1]
    _screenshot(page, "studio_versions.png")

    page.click("#versions li[data-version='1'] button")
    _wait_for(page, "state.version && state.version.number === 1")
    assert float(_fader(page, "bass").input_value()) == pytest.approx(before)
    assert page.evaluate("state.players.mix.element.src").endswith(f"/api/jobs/{mix_id}/files/mix")
    assert page.get_attribute("#dl-mix", "href") == f"/api/jobs/{mix_id}/files/mix?download=1"
    page.reload()
    page.wait_for_selector("#mixer-panel:not([hidden])")
    _wait_for(page, "state.version && state.version.number === 1")
    assert float(_fader(page, "bass").input_value()) == pytest.approx(before)
    assert page.locator("#versions li").count() == 2 and page.locator("#versions li.current").get_attribute(
        "data-version") == "1"  # version 2 is kept, to restore again


def test_a_page_with_no_project_shows_no_project_controls(studio_url, page):
    """Without a project the project's panels are really hidden (``main`` is a grid, which used to override
    ``hidden``), and the controls, used anyway, say to open a project instead of failing on ``null.id``; going back
    to "choose…" hides them again."""
    import httpx

    page.goto(studio_url)
    page.wait_for_selector("#project-select")
    for selector in ("#project", "#analyse", "#mix", "#drop", "#player-panel", "#mixer-panel"):
        assert page.locator(selector).is_hidden(), selector
    page.evaluate("document.getElementById('analyse').click()")
    _wait_for(page, "!document.getElementById('message').hidden")
    assert page.inner_text("#message").startswith("no project is open; fix:")
    page.evaluate("document.getElementById('mix').click()")
    page.evaluate("(() => { const g = document.getElementById('genre'); g.value = 'rock'; "
                  "g.dispatchEvent(new Event('change')); })()")
    page.wait_for_timeout(200)
    assert page.inner_text("#message").startswith("no project is open; fix:")  # not "Cannot read properties of null"

    project = httpx.post(f"{studio_url}/api/projects", json={"name": "Open"}).json()
    page.reload()
    page.select_option("#project-select", project["id"])
    page.wait_for_selector("#project:not([hidden])")
    assert page.locator("#analyse").is_visible()
    page.select_option("#project-select", "")
    page.wait_for_selector("#project", state="hidden")
    assert page.evaluate("location.search") == "" and page.evaluate("state.project") is None


def test_a_reference_uploaded_after_the_mix_plays_at_the_mixs_loudness(studio_url, page, tmp_path):
    """The A/B switch's reference, uploaded after the mix was made: it plays from where the mix was, through its
    gain at the mix's loudness (it used to stay silent: its player had no source)."""
    import httpx

    from tests.test_studio_api import _wav

    project, _ = _mixed_project(studio_url, "Late reference")
    page.goto(f"{studio_url}/?project={project['id']}")
    page.wait_for_selector("#player-panel:not([hidden])")
    assert page.is_disabled("#ab-reference")
    reference = tmp_path / "their mix.wav"
    reference.write_bytes(_wav(330, 4.0, 2, level=0.05))
    page.set_input_files("#reference-input", str(reference))
    _wait_for(page, "!document.getElementById('ab-reference').disabled")
    assert page.inner_text("#reference-name") == "their mix"
    page.click("#play")
    _wait_for(page, "document.querySelector('#clock').textContent !== '0:00'", timeout=20000)
    page.check("#ab-reference")
    page.wait_for_timeout(500)
    heard = page.evaluate("""(() => { const r = state.players.reference, m = state.players.mix;
        return {source: state.source, src: r && r.element.src, paused: r && r.element.paused,
                t: r && r.element.currentTime, mix: m.element.paused, gain: r && r.gain && r.gain.gain.value,
                level: r && r.level}; })()""")
    now = httpx.get(f"{studio_url}/api/projects/{project['id']}").json()
    uploaded, mix_lufs = now["reference"], now["versions"][-1]["integrated_lufs"]
    assert heard["source"] == "reference" and heard["src"].endswith(uploaded["audio"]), heard
    assert not heard["paused"] and heard["mix"] and heard["t"] > 0.5, heard  # playing, from where the mix was
    assert heard["gain"] == pytest.approx(heard["level"], rel=1e-3) and heard["level"] > 2, heard  # raised ...
    assert heard["level"] == pytest.approx(10 ** ((mix_lufs - uploaded["loudness_lufs"]) / 20), rel=1e-3)  # to it


def test_switching_to_an_unmixed_project_clears_the_previous_mix(studio_url, page):
    """Another project without a mix shows no player, mixer, versions or downloads of the previous one, and the
    previous mix stops playing."""
    import httpx

    from tests.test_studio_api import _wav

    mixed, _ = _mixed_project(studio_url, "Mixed")
    bare = httpx.post(f"{studio_url}/api/projects", json={"name": "Bare"}).json()
    httpx.post(f"{studio_url}/api/projects/{bare['id']}/files", content=_wav(220, 4.0),
               headers={"X-Filename": "solo.wav"}).raise_for_status()
    page.goto(f"{studio_url}/?project={mixed['id']}")
    page.wait_for_selector("#mixer-panel:not([hidden])")
    page.click("#play")
    _wait_for(page, "document.querySelector('#clock').textContent !== '0:00'", timeout=20000)
    page.select_option("#project-select", bare["id"])
    _wait_for(page, "document.querySelector('#project-name').textContent === 'Bare'")
    page.wait_for_timeout(500)  # time for a late answer about the previous project to land
    for selector in ("#player-panel", "#mixer-panel", "#versions-panel"):
        assert page.locator(selector).is_hidden(), selector
    assert page.locator(".strip").count() == 0 and page.locator("#versions li").count() == 0
    assert page.get_attribute("#dl-mix", "href") is None and page.inner_text("#loudness") == ""
    assert page.evaluate("state.players.mix.element.paused && !state.players.mix.element.src")
    assert page.inner_text("#tracks tbody").strip().startswith("solo")
    assert not page.is_disabled("#mix")


def test_the_progress_bar_never_goes_backwards(studio_url, page):
    """Every value the bar takes during one mix, recorded on the page: never less than the one before (the
    mix's stages each counted from zero and the bar used to fall back when the next began)."""
    import httpx

    from tests.test_studio_api import _wav

    project = httpx.post(f"{studio_url}/api/projects", json={"name": "Steady"}).json()
    for track, f in (("bass", 80), ("keys", 440), ("lead", 880), ("pad", 660)):
        httpx.post(f"{studio_url}/api/projects/{project['id']}/files", content=_wav(f, 20.0),
                   headers={"X-Filename": f"{track}.wav"}).raise_for_status()
    page.goto(f"{studio_url}/?project={project['id']}")
    page.wait_for_selector("#project:not([hidden])")
    page.evaluate("""window.seen = []; new MutationObserver(() => window.seen.push(
        [document.getElementById('job-progress').value, document.getElementById('job-stage').textContent]))
        .observe(document.getElementById('job-progress'), {attributes: true})""")
    page.click("#mix")
    page.wait_for_selector("#mixer-panel:not([hidden])", timeout=180000)
    seen = page.evaluate("window.seen")
    values = [v for v, _ in seen]
    assert len({round(v, 2) for v in values}) >= 4, seen  # the bar moved in steps, not at once
    assert all(b >= a for a, b in itertools.pairwise(values)), seen
    assert values[-1] == 1


def test_mix_warnings_reach_the_page_and_a_stereo_pan_applies_as_a_balance(studio_url, page, tmp_path):
    """What the mix found shows on the page: a lossy MP3 stem, a stereo file holding mono, and a stereo stem's pan
    preference the mixer left out, whose *Apply as a balance* makes an edit (the mixer's pan) and a version."""
    import io

    import httpx
    import numpy as np

    from tests.test_studio_api import SR

    t = np.arange(int(6.0 * SR)) / SR
    tone = lambda f: 0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))

    def encoded(audio, fmt):
        buffer = io.BytesIO()
        sf.write(buffer, audio, SR, format=fmt)
        return buffer.getvalue()

    project = httpx.post(f"{studio_url}/api/projects", json={"name": "Warned"}).json()
    stems = {"bass.mp3": encoded(tone(80), "MP3"), "dual.wav": encoded(np.stack([tone(440)] * 2, 1), "WAV"),
             "keys.wav": encoded(np.stack([tone(660), tone(990)], 1), "WAV")}
    files = {}
    for name, body in stems.items():
        answer = httpx.post(f"{studio_url}/api/projects/{project['id']}/files", content=body,
                            headers={"X-Filename": name})
        assert answer.status_code == 201, answer.text
        files[name] = answer.json()
    httpx.patch(f"{studio_url}/api/projects/{project['id']}/files/{files['keys.wav']['id']}",
                json={"pan": "left"}).raise_for_status()
    page.goto(f"{studio_url}/?project={project['id']}")
    page.wait_for_selector("#project:not([hidden])")
    page.click("#mix")
    page.wait_for_selector("#mixer-panel:not([hidden])", timeout=180000)
    warnings = page.locator("#mix-warnings li").all_inner_texts()
    assert any(w.startswith("bass: lossy_source:") for w in warnings), warnings
    assert any(w.startswith("dual: mono_as_stereo:") for w in warnings), warnings
    pan = next(w for w in warnings if w.startswith("keys: pan left was not applied"))
    assert "the stem is stereo" in pan and "Apply as a balance" in pan
    page.click("#mix-warnings button.balance")
    _wait_for(page, "document.querySelector('#render-state').textContent.startsWith('re-rendered')", timeout=180000)
    assert float(_fader(page, "keys", "pan").input_value()) == pytest.approx(-0.6)
    assert "applied: pan L60" in page.inner_text("#mix-warnings")
    assert page.locator("#versions li.current .label").inner_text() == "edit: keys pan L60"


def test_a_project_deleted_in_another_tab_closes_here_with_a_message(studio_url, page):
    """The open project is deleted elsewhere: the page says so, hides it and lists the projects left (no
    errors on the page; the server's side is tests/test_studio_jobs.py)."""
    import httpx

    project, _ = _mixed_project(studio_url, "Doomed")
    page.goto(f"{studio_url}/?project={project['id']}")
    page.wait_for_selector("#mixer-panel:not([hidden])")
    assert httpx.delete(f"{studio_url}/api/projects/{project['id']}").status_code == 204
    _wait_for(page, "document.getElementById('project').hidden")
    assert page.inner_text("#message") == "Doomed was deleted (in another tab or by a script); choose another project"
    assert page.locator("#project-select option").all_inner_texts() == ["choose…"]
    assert page.evaluate("state.events === null && state.project === null && !state.players.mix.element.src")
