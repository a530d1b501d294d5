"""The studio's gate and upload checks: Host allow-list, cross-site refusal, the token on a studio bound to the
network, security headers, pages without inline script, uploads decoded to the end, messages without server
paths."""

import io
import re
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mixdown.app import tasks
from mixdown.app.security import COOKIE, CSP
from mixdown.app.server import create_app
from mixdown.app.settings import StudioSettings
from mixdown.app.store import open_database
from tests.test_studio_api import _files_under, _project, _upload, _wait, _wav

SR = 44100
TOKEN = "network-token-for-tests"
EVIL = "https://evil.example"


@pytest.fixture
def studio(tmp_path):
    settings = StudioSettings(tmp_path / "data", max_upload_mb=2.0, allowed_hosts=["studio.lan"])
    with TestClient(create_app(settings), base_url="http://localhost:8000") as client:
        client.settings = settings
        yield client


@pytest.fixture
def networked(tmp_path):
    """A studio bound to a network address (192.0.2.10, TEST-NET-1): it asks for the token."""
    settings = StudioSettings(tmp_path / "data", admin_token=TOKEN, host="192.0.2.10")
    assert settings.token_required
    with TestClient(create_app(settings), base_url="http://192.0.2.10:8000") as client:
        client.settings = settings
        yield client


def _encoded(audio: np.ndarray, fmt: str, subtype: str, rate: int = SR) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _tone(seconds: float = 3.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def _no_server_path(message: str, settings: StudioSettings) -> None:
    assert str(settings.data_dir) not in message and "/jobs/" not in message and "/uploads/" not in message, message
    assert not re.search(r"/(tmp|root|home)/", message), message


# --- Host --------------------------------------------------------------------------------------------------------
def test_a_foreign_host_is_refused(studio):
    refused = studio.get("/", headers={"Host": "attacker.example"})
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/plain")
    assert "host 'attacker.example'" in refused.text and "--allowed-host" in refused.text
    assert studio.get("/api/projects", headers={"Host": "attacker.example:8000"}).status_code == 400
    assert studio.post("/api/projects", json={"name": "x"}, headers={"Host": "attacker.example"}).status_code == 400
    assert studio.get("/api/projects", headers={"Host": "bad host"}).status_code == 400
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST", "studio.lan:8443"):
        assert studio.get("/api/health", headers={"Host": host}).status_code == 200, host
    assert studio.get("/api/projects").json() == []  # nothing was made by the refused POST


def test_a_studio_bound_everywhere_answers_ip_addresses_but_not_other_names(tmp_path):
    settings = StudioSettings(tmp_path / "data", host="0.0.0.0", admin_token=TOKEN)
    with TestClient(create_app(settings), base_url="http://192.168.1.20:8000") as client:
        assert client.get("/api/health").status_code == 200  # an address cannot be rebound by a page
        assert client.get("/api/health", headers={"Host": "[fe80::1]:8000"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "rebind.attacker.example"}).status_code == 400


# --- cross-site requests -----------------------------------------------------------------------------------------
def test_cross_site_requests_are_refused_and_change_nothing(studio):
    project_id = _project(studio)
    track = _upload(studio, project_id, "vox.wav", _wav(440)).json()
    before = studio.get(f"/api/projects/{project_id}").json()
    attempts = [
        ("POST", "/api/projects", {"json": {"name": "theirs"}}),
        ("PATCH", f"/api/projects/{project_id}", {"json": {"name": "renamed"}}),
        ("DELETE", f"/api/projects/{project_id}", {}),
        ("POST", f"/api/projects/{project_id}/analyse", {}),  # no body: a plain cross-site form could send it
        ("POST", f"/api/projects/{project_id}/mix", {"json": {"method": "rules"}}),
        ("PATCH", f"/api/projects/{project_id}/files/{track['id']}", {"json": {"role": "bass"}}),
        ("DELETE", f"/api/projects/{project_id}/files/{track['id']}", {}),
        ("POST", f"/api/projects/{project_id}/files?kind=stem", {"content": _wav(220)}),
    ]
    foreign = [{"Origin": EVIL}, {"Origin": "null"}, {"Referer": f"{EVIL}/page"},
               {"Origin": "http://localhost:9999"},  # another program's page on this computer
               {"Origin": "http://attacker.example:8000"}]
    for method, path, extra in attempts:
        for headers in foreign:
            answer = studio.request(method, path, **extra, headers={"X-Filename": "x.wav", **headers})
            assert answer.status_code == 403, (method, path, headers, answer.text)
            assert "cross-site request refused" in answer.json()["error"]
    assert studio.get(f"/api/projects/{project_id}").json() == before  # the state is unchanged
    assert [p["id"] for p in studio.get("/api/projects").json()] == [project_id]
    assert len(_files_under(studio.settings.data_dir / "uploads")) == 1

    same = {"Origin": "http://localhost:8000"}  # the studio's own page
    assert studio.patch(f"/api/projects/{project_id}", json={"name": "ours"}, headers=same).status_code == 200
    proxied = {"Origin": "https://studio.lan"}  # a name given with --allowed-host (a TLS proxy in front)
    assert studio.post("/api/projects", json={"name": "p"}, headers=proxied).status_code == 201
    assert studio.post("/api/projects", json={"name": "r"},
                       headers={"Referer": "http://localhost:8000/?project=x"}).status_code == 201
    assert studio.post("/api/projects", json={"name": "script"}).status_code == 201  # loopback: scripts need no Origin


# --- headers and pages -------------------------------------------------------------------------------------------
def test_every_answer_carries_the_security_headers(studio):
    answers = [studio.get(p) for p in ("/", "/admin", f"/listen/{'0' * 32}", "/login", "/static/studio.js",
                                       "/api/projects", "/api/options", f"/api/projects/{'1' * 32}")]
    answers += [studio.get("/", headers={"Host": "attacker.example"}),
                studio.post("/api/projects", json={}, headers={"Origin": EVIL})]
    for answer in answers:
        h = answer.headers
        assert h["content-security-policy"] == CSP, answer.url
        assert (h["x-frame-options"], h["x-content-type-options"], h["referrer-policy"]) == \
            ("DENY", "nosniff", "same-origin"), answer.url
    policy = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert policy["script-src"] == "'self'" and "unsafe" not in CSP
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    docs = studio.get("/api/docs")
    assert docs.status_code == 200 and "'unsafe-inline'" not in docs.headers["content-security-policy"].split(
        "script-src")[1].split(";")[0]  # its one inline script is allowed by its hash


def test_pages_and_scripts_have_no_inline_code_or_markup_from_text(studio):
    from importlib import resources

    static = resources.files("mixdown") / "app" / "static"
    for page in ("studio.html", "admin.html", "listen.html", "login.html"):
        text = (static / page).read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), page  # every script is a file
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), page  # no inline handlers
        assert " style=" not in text and "javascript:" not in text, page
    for script in ("studio.js", "admin.js", "listen.js"):
        text = (static / script).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, (script, sink)


# --- the token ---------------------------------------------------------------------------------------------------
def test_a_studio_on_the_network_needs_the_token(networked):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    project_id = networked.post("/api/projects", json={"name": "Song"}, headers=bearer).json()["id"]
    track = networked.post(f"/api/projects/{project_id}/files", content=_wav(440),
                           headers={"X-Filename": "vox.wav", **bearer}).json()
    same = {"Origin": "http://192.0.2.10:8000"}
    for method, path, headers in [("GET", "/api/projects", {}), ("GET", f"/api/projects/{project_id}", {}),
                                  ("GET", track["audio"], {}), ("GET", f"/api/projects/{project_id}/events", {}),
                                  ("DELETE", f"/api/projects/{project_id}", same),
                                  ("DELETE", f"/api/projects/{project_id}", {}),
                                  ("POST", "/api/projects", same),
                                  ("GET", "/api/projects", {"Authorization": "Bearer wrong"})]:
        answer = networked.request(method, path, headers=headers)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["error"].startswith("studio token: expected the studio's token") \
            and TOKEN not in answer.text
    page = networked.get("/")
    assert page.status_code == 401 and 'action="/login"' in page.text and "mixdown studio" not in page.text.split(
        "<main>")[1][:40]
    assert networked.get("/admin").status_code == 401
    for public in ("/login", "/static/studio.js", "/api/health", f"/listen/{'0' * 32}"):
        assert networked.get(public).status_code == 200, public
    assert networked.post(f"/api/listen/{'0' * 32}/join?key=k", headers=same).status_code == 404  # reached: no test

    assert networked.get(track["audio"], headers=bearer).status_code == 200  # the token works for API clients
    assert networked.get("/api/projects", headers=bearer).json()[0]["id"] == project_id
    assert networked.delete(f"/api/projects/{project_id}", headers=bearer).status_code == 204
    assert networked.get("/api/projects", headers=bearer).json() == []


def test_the_login_link_sets_a_strict_http_only_cookie(networked):
    assert networked.get("/login?token=wrong").status_code == 401
    assert not networked.cookies
    login = networked.get("/?token=" + TOKEN + "&project=abc", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/?project=abc"  # the token leaves the URL
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert networked.get("/api/projects").status_code == 200  # the cookie now opens everything
    same = {"Origin": "http://192.0.2.10:8000"}
    assert networked.post("/api/projects", json={"name": "p"}, headers=same).status_code == 201
    refused = networked.post("/api/projects", json={"name": "q"})  # a cookie without an Origin: not the page's
    assert refused.status_code == 403 and "Authorization: Bearer" in refused.json()["error"]
    assert networked.post("/api/projects", json={"name": "q"}, headers={"Origin": EVIL}).status_code == 403
    assert len(networked.get("/api/projects").json()) == 1
    assert networked.get("/admin").status_code == 200 and networked.get("/api/tests").status_code == 200
    networked.post("/logout", headers=same)
    networked.cookies.clear()
    assert networked.get("/api/projects").status_code == 401
    form = networked.post("/login", data={"token": TOKEN}, headers=same, follow_redirects=False)
    assert form.status_code == 303 and "HttpOnly" in form.headers["set-cookie"]
    assert networked.post("/login", data={"token": "nope"}, headers=same).status_code == 401


def test_a_loopback_studio_can_ask_for_the_token_too(tmp_path):
    settings = StudioSettings(tmp_path / "data", admin_token=TOKEN, require_token=True)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        assert client.get("/api/projects").status_code == 401
        assert client.get("/api/projects", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# --- uploads decoded to the end ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fmt, subtype, keep, words", [
    ("truncated.flac", "FLAC", "PCM_16", 0.5, "of 132300 frames"),
    ("cut at the end.flac", "FLAC", "PCM_24", -7, "of 132300 frames"),
    ("truncated.wav", "WAV", "PCM_16", 0.5, "66139 of 132300 frames"),
    ("truncated.aiff", "AIFF", "PCM_24", 0.5, "of 132300 frames"),
    ("truncated.mp3", "MP3", "MPEG_LAYER_III", 0.5, "of 132300 frames"),
    ("truncated.ogg", "OGG", "VORBIS", -7, "stops mid-page"),
])
def test_a_truncated_upload_is_refused_with_its_name(studio, name, fmt, subtype, keep, words):
    whole = _encoded(_tone(), fmt, subtype)
    body = whole[:int(len(whole) * keep)] if keep > 0 else whole[:keep]
    project_id = _project(studio)
    answer = _upload(studio, project_id, name, body)
    message = answer.json()["error"]
    assert answer.status_code == 415, message
    assert message.startswith(f"{name}: ") and "truncated" in message and words in message, message
    assert re.search(r"fix: export (or copy )?it again", message), message  # the studio's words or the library's
    _no_server_path(message, studio.settings)
    assert _files_under(studio.settings.data_dir / "uploads") == []
    assert studio.get(f"/api/projects/{project_id}").json()["stems"] == []


def test_whole_files_of_every_type_are_accepted(studio):
    project_id = _project(studio)
    for name, fmt, subtype in (("a.flac", "FLAC", "PCM_16"), ("b.wav", "WAV", "FLOAT"), ("c.aiff", "AIFF", "PCM_16"),
                               ("d.mp3", "MP3", "MPEG_LAYER_III"), ("e.ogg", "OGG", "VORBIS")):
        answer = _upload(studio, project_id, name, _encoded(_tone(), fmt, subtype))
        assert answer.status_code == 201 and answer.json()["warnings"] == [], answer.text
        assert answer.json()["seconds"] == pytest.approx(3.0, abs=0.01)


def test_too_short_and_non_finite_uploads_are_refused(studio):
    project_id = _project(studio)
    one = _upload(studio, project_id, "click.wav", _encoded(np.array([0.5], np.float32), "WAV", "PCM_16"))
    assert one.status_code == 400 and one.json()["error"].startswith(
        "click.wav: expected at least 0.4 s of audio, found 1 sample(s)"), one.text
    short = _upload(studio, project_id, "blip.flac", _encoded(_tone(0.2), "FLAC", "PCM_16"))
    assert short.status_code == 400 and "found 8820 sample(s) (200 ms)" in short.json()["error"]
    broken = _tone()
    broken[50000] = np.nan
    nan = _upload(studio, project_id, "nan.wav", _encoded(broken, "WAV", "FLOAT"))
    assert nan.status_code == 415 and nan.json()["error"].startswith("nan.wav: expected finite samples, found NaN/inf at frame 50000")
    for answer in (one, short, nan):
        _no_server_path(answer.json()["error"], studio.settings)
    assert _files_under(studio.settings.data_dir / "uploads") == []


def test_a_silent_upload_is_kept_with_a_warning(studio):
    project_id = _project(studio)
    answer = _upload(studio, project_id, "silent.wav", _encoded(np.zeros(3 * SR, np.float32), "WAV", "PCM_16"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["warnings"] == ["silent.wav: silent (peak every sample zero, below -80 dBFS); kept, but it "
                                         "adds nothing to the mix; check the export, or remove the track"]
    quiet = _upload(studio, project_id, "hiss.wav", _encoded(_tone() / 0.3 * 10 ** (-90 / 20), "WAV", "FLOAT")).json()
    assert quiet["warnings"][0].startswith("hiss.wav: silent (peak -90 dBFS")
    stems = studio.get(f"/api/projects/{project_id}").json()["stems"]
    assert [len(s["warnings"]) for s in stems] == [1, 1]  # kept with the track: the page shows it
    loud = _upload(studio, project_id, "vox.wav", _wav(440)).json()
    assert loud["warnings"] == []


# --- messages from jobs ------------------------------------------------------------------------------------------
def test_a_job_failing_on_a_file_names_it_without_server_paths(studio):
    """The issue's case: a FLAC that went bad after upload (here: cut on disk) fails the mix; the message names
    the track's file, not ``<data>/jobs/<id>/stems/truncated.flac``."""
    project_id = _project(studio)
    whole = _encoded(_tone(), "FLAC", "PCM_16")
    assert _upload(studio, project_id, "truncated.flac", whole).status_code == 201
    assert _upload(studio, project_id, "keys.wav", _wav(440)).status_code == 201
    stored = next((studio.settings.data_dir / "uploads" / project_id).glob("*.flac"))
    stored.chmod(0o644)
    stored.write_bytes(whole[: len(whole) // 2])
    job = _wait(studio, studio.post(f"/api/projects/{project_id}/mix", json={"method": "rules"}).json()["id"])
    assert job["status"] == "failed" and job["error"].startswith("truncated.flac: "), job["error"]
    _no_server_path(job["error"], studio.settings)
    assert str(stored) not in job["error"] and stored.name not in job["error"]


def test_scrubbing_maps_data_paths_to_names(studio):
    data = studio.settings.data_dir
    text = (f"{data}/jobs/{'a' * 32}/stems/Lead Vox.wav: bad; {data}/jobs/{'a' * 32}/out/mix.wav: also; "
            f"[Errno 2] No such file: '{data}/uploads/{'b' * 32}/{'c' * 32}.wav'")
    scrubbed = tasks.scrub_paths(text, studio.settings)
    assert scrubbed == f"Lead Vox.wav: bad; mix.wav: also; [Errno 2] No such file: '{'c' * 32}.wav'"


def test_an_older_database_gets_the_new_column(tmp_path):
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    factory = open_database(url)
    with factory.begin() as db:
        db.execute(text("ALTER TABLE files DROP COLUMN warnings"))  # as a studio before the upload checks made it
    factory.kw["bind"].dispose()
    factory = open_database(url)
    with factory() as db:
        assert db.execute(text("SELECT warnings FROM files")).all() == []


def test_uploads_do_not_hold_up_other_requests(studio, monkeypatch):
    """Decoding runs in a thread: while a slow check runs, the event loop still answers."""
    import threading

    from mixdown.app import uploads

    started, release = threading.Event(), threading.Event()
    check = uploads.check_audio

    def slow(path, shown):
        started.set()
        release.wait(10)
        return check(path, shown)

    monkeypatch.setattr(uploads, "check_audio", slow)
    project_id = _project(studio)
    answers = []
    uploading = threading.Thread(target=lambda: answers.append(_upload(studio, project_id, "vox.wav", _wav(440))))
    uploading.start()
    assert started.wait(10)
    t0 = time.monotonic()
    assert studio.get("/api/health").status_code == 200
    assert time.monotonic() - t0 < 2.0
    release.set()
    uploading.join(10)
    assert answers[0].status_code == 201
