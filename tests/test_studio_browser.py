"""The studio in headless Chromium: upload -> analyse -> mix -> play -> change a fader -> re-render -> download.

Needs Debian's chromium (scripts/install_system_deps.sh installs it) and Playwright's Python package (the test
extra); set MIXDOWN_SCREENSHOTS=docs/images to refresh the documentation's screenshot.
"""

import contextlib
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
    levels = page.evaluate("({raw: state.players.raw.level, now: state.latest.result.integrated_lufs, "
                           "first: state.mixJob.result.integrated_lufs})")
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
    again = page.evaluate("({now: state.latest.result.integrated_lufs, first: state.mixJob.result.integrated_lufs, "
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
