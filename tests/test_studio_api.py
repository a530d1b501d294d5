"""The studio's HTTP API, in process (FastAPI's test client, the real worker thread and library calls)."""

import io
import json
import stat
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mixdown.app.server import create_app
from mixdown.app.settings import StudioSettings

SR = 44100


def _wav(frequency: float, seconds: float = 3.0, channels: int = 1, level: float = 0.3) -> bytes:
    t = np.arange(int(seconds * SR)) / SR
    tone = level * np.sin(2 * np.pi * frequency * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([tone] * channels, 1), SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def studio(tmp_path):
    settings = StudioSettings(tmp_path / "data", max_upload_mb=1.0, max_files=4)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.settings = settings
        yield client


def _project(client, **settings) -> str:
    answer = client.post("/api/projects", json={"name": "Song", **settings})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _upload(client, project_id, name, body, kind="stem"):
    return client.post(f"/api/projects/{project_id}/files?kind={kind}", content=body,
                       headers={"X-Filename": name})


def _wait(client, job_id, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def _files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_pages_and_options(studio):
    assert "mixdown studio" in studio.get("/").text
    assert "listening tests" in studio.get("/admin").text
    assert "Listening" in studio.get(f"/listen/{'0' * 32}").text  # the page; joining checks the test and key
    assert studio.get("/static/studio.js").headers["content-type"].startswith("text/javascript")
    assert studio.get("/api/health").json() == {"ok": True}
    options = studio.get("/api/options").json()
    assert options["methods"] == ["rules", "dmc", "optimize", "dugan"] and "lead_vocal" in options["roles"]
    assert "/api/projects/{project_id}/files" in studio.get("/api/openapi.json").json()["paths"]


def test_projects_are_created_listed_changed_and_deleted(studio):
    project_id = _project(studio, genre="rock", target="apple")
    assert [p["id"] for p in studio.get("/api/projects").json()] == [project_id]
    changed = studio.patch(f"/api/projects/{project_id}", json={"name": "Better", "target": "-12"}).json()
    assert (changed["name"], changed["genre"], changed["target"]) == ("Better", "rock", "-12")
    bad = studio.patch(f"/api/projects/{project_id}", json={"genre": "polka"})
    assert bad.status_code == 400 and "genre: expected one of" in bad.json()["error"]
    assert "fix:" in studio.patch(f"/api/projects/{project_id}", json={"target": "loud"}).json()["error"]
    assert studio.post("/api/projects", json={"name": ""}).status_code == 422
    from mixdown.app.store import Job

    with studio.app.state.factory.begin() as db:  # a job the worker is (said to be) running
        db.add(Job(project_id=project_id, kind="nothing", status="running"))
    busy = studio.delete(f"/api/projects/{project_id}")
    assert busy.status_code == 400 and "a job is still running" in busy.json()["error"]
    with studio.app.state.factory.begin() as db:
        db.query(Job).delete()
    assert studio.delete(f"/api/projects/{project_id}").status_code == 204
    assert not (studio.settings.data_dir / "uploads" / project_id).exists()
    missing = studio.get(f"/api/projects/{project_id}")
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_uploads_get_generated_names_and_clean_track_names(studio):
    project_id = _project(studio)
    answer = _upload(studio, project_id, "../../../etc/Lead%20Vox.wav", _wav(440))
    assert answer.status_code == 201, answer.text
    track = answer.json()
    assert track["name"] == "Lead Vox" and track["channels"] == 1 and track["seconds"] == pytest.approx(3.0)
    twin = _upload(studio, project_id, "..\\lead vox.WAV", _wav(220)).json()
    assert twin["name"] == "lead vox 2"  # names are unique per project, case-insensitively
    odd = _upload(studio, project_id, "a\x00b<>|:*?.flac".replace(".flac", ".wav"), _wav(330)).json()
    assert odd["name"] == "a_b"
    data = studio.settings.data_dir
    stored = _files_under(data / "uploads")
    assert len(stored) == 3 and all(len(p.split("/")[1]) == 32 + 4 for p in stored)  # <project>/<32 hex>.wav
    assert not (data.parent / "etc").exists()
    mode = (data / "uploads" / stored[0]).stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # uploads are kept read-only
    played = studio.get(track["audio"], headers={"Range": "bytes=0-99"})
    assert played.status_code == 206 and len(played.content) == 100


@pytest.mark.parametrize("name, body, status, words", [
    ("notes.txt", b"hello", 415, "expected an audio file"),
    ("song", b"RIFF", 415, "found no suffix"),
    ("fake.wav", b"this is not a wave file at all", 415, "cannot read"),
    ("empty.wav", b"", 400, "empty upload"),
    ("huge.wav", b"\0" * (1024 * 1024 + 1), 413, "at most 1 MB"),
])
def test_bad_uploads_get_clear_errors_and_leave_nothing(studio, name, body, status, words):
    project_id = _project(studio)
    answer = _upload(studio, project_id, name, body)
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    assert answer.json()["error"].startswith(name.split("/")[-1] if "." in name else name)
    assert str(studio.settings.data_dir) not in answer.json()["error"]  # no server paths in messages
    assert _files_under(studio.settings.data_dir / "uploads") == []
    assert studio.get(f"/api/projects/{project_id}").json()["stems"] == []


def test_an_oversized_upload_without_a_length_stops_at_the_limit(studio):
    project_id = _project(studio)

    def chunks():  # chunked transfer: no Content-Length to refuse early, so the stream is cut at 1 MB
        for _ in range(40):
            yield b"\0" * 65536

    answer = studio.post(f"/api/projects/{project_id}/files", content=chunks(), headers={"X-Filename": "big.wav"})
    assert answer.status_code == 413 and "big.wav: expected at most 1 MB" in answer.json()["error"]
    assert _files_under(studio.settings.data_dir / "uploads") == []


def test_upload_limits_and_references(studio):
    project_id = _project(studio)
    for k in range(4):
        assert _upload(studio, project_id, f"t{k}.wav", _wav(200 + 100 * k)).status_code == 201
    fifth = _upload(studio, project_id, "t4.wav", _wav(700))
    assert fifth.status_code == 413 and "at most 4 stems" in fifth.json()["error"]
    assert _upload(studio, project_id, "ref.wav", _wav(300, 2.0, 2), "reference").status_code == 201
    reference = _wav(300, 2.0, 2, level=0.1)
    second = _upload(studio, project_id, "ref2.wav", reference, "reference").json()
    state = studio.get(f"/api/projects/{project_id}").json()
    assert state["reference"]["id"] == second["id"] and len(state["stems"]) == 4  # the new one replaces the old
    import pyloudnorm

    audio, rate = sf.read(io.BytesIO(reference))
    assert state["reference"]["loudness_lufs"] == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(audio))
    assert len(_files_under(studio.settings.data_dir / "uploads")) == 5
    assert _upload(studio, project_id, "x.wav", _wav(300), "drums").status_code == 400
    assert _upload(studio, "0" * 32, "x.wav", _wav(300)).status_code == 404


def test_track_controls_are_checked(studio):
    project_id = _project(studio)
    track = _upload(studio, project_id, "vox.wav", _wav(440)).json()
    url = f"/api/projects/{project_id}/files/{track['id']}"
    changed = studio.patch(url, json={"role": "lead_vocal", "priority": "lead", "pan": "left", "keep": True}).json()
    assert (changed["role"], changed["priority"], changed["pan"], changed["keep"]) == ("lead_vocal", "lead", "left", True)
    assert studio.patch(url, json={"role": ""}).json()["role"] is None  # back to automatic
    bad = studio.patch(url, json={"reverb": "lots"})
    assert bad.status_code == 400 and "reverb expected one of none, low, medium, high" in bad.json()["error"]
    assert studio.patch(f"/api/projects/{project_id}/files/{'1' * 32}", json={}).status_code == 404
    assert studio.delete(url).status_code == 204
    assert _files_under(studio.settings.data_dir / "uploads") == []


def _mixed(studio):
    project_id = _project(studio)
    for name, f in (("bass.wav", 80), ("keys.wav", 440), ("lead.wav", 880)):
        assert _upload(studio, project_id, name, _wav(f, 4.0)).status_code == 201
    job = studio.post(f"/api/projects/{project_id}/mix", json={"method": "rules"}).json()
    assert job["status"] == "queued"
    done = _wait(studio, job["id"])
    assert done["status"] == "done", done["error"]
    return project_id, done


def test_mix_render_and_downloads(studio):
    _, mix = _mixed(studio)
    result = mix["result"]
    assert result["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)  # the project's default target
    raw, rate = sf.read(io.BytesIO(studio.get(mix["files"]["raw"]).content))
    import pyloudnorm

    assert pyloudnorm.Meter(rate).integrated_loudness(raw) == pytest.approx(result["integrated_lufs"], abs=0.3)
    report = studio.get(mix["files"]["report"])
    assert report.status_code == 200 and "<html" in report.text.lower()
    assert "sandbox" in report.headers["content-security-policy"]  # its inline style, no script, an origin of its own
    recipe = studio.get(f"/api/jobs/{mix['id']}/recipe").json()
    assert [t["name"] for t in recipe["tracks"]] == ["bass", "keys", "lead"]
    portable = json.loads(studio.get(f"{mix['files']['recipe']}?download=1").text)
    assert [t["source"] for t in portable["tracks"]] == ["bass.wav", "keys.wav", "lead.wav"]
    download = studio.get(f"{mix['files']['mix']}?download=1")
    assert 'attachment; filename="Song-v1-mix.wav"' in download.headers["content-disposition"]  # version 1
    with zipfile.ZipFile(io.BytesIO(studio.get(f"/api/jobs/{mix['id']}/stems.zip").content)) as z:
        assert sorted(z.namelist()) == ["stems/bass.wav", "stems/keys.wav", "stems/lead.wav"]

    for track in recipe["tracks"]:  # everything muted but the bass: the edit must be heard
        track["mute"] = track["name"] != "bass"
    preview = studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe, "preview": True, "start_s": 1.0})
    full = studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe})
    preview, full = _wait(studio, preview.json()["id"]), _wait(studio, full.json()["id"])
    assert preview["status"] == full["status"] == "done", (preview["error"], full["error"])
    assert preview["result"]["seconds"] == pytest.approx(3.0, abs=0.01)  # 4 s song from 1 s
    assert full["result"]["seconds"] == pytest.approx(4.0, abs=0.01)
    edited, _ = sf.read(io.BytesIO(studio.get(full["files"]["mix"]).content))
    mixed, _ = sf.read(io.BytesIO(studio.get(mix["files"]["mix"]).content))
    spectrum = lambda x: np.abs(np.fft.rfft(x[:, 0]))
    hz = np.fft.rfftfreq(len(edited), 1 / rate)
    share = lambda s: s[(hz > 60) & (hz < 100)].sum() / s.sum()
    assert share(spectrum(edited)) > 0.9 > share(spectrum(mixed))  # only the 80 Hz bass is left
    again = studio.post(f"/api/jobs/{full['id']}/render", json={"recipe": recipe, "preview": True})
    assert again.status_code == 202 and again.json()["params"]["mix_job"] == mix["id"]  # edits of edits


def test_an_edited_mix_is_mastered_again_for_the_projects_target(studio):
    project_id, mix = _mixed(studio)
    assert studio.patch(f"/api/projects/{project_id}", json={"target": "apple"}).status_code == 200
    recipe = studio.get(f"/api/jobs/{mix['id']}/recipe").json()
    for track in recipe["tracks"]:
        track["mute"] = track["name"] != "bass"  # the master chain as mixed: far quieter than the mix
    kept = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe}).json()["id"])
    again = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe, "remaster": True,
                                                                           "preview": True}).json()["id"])
    assert kept["status"] == again["status"] == "done", (kept["error"], again["error"])
    assert kept["result"]["integrated_lufs"] < -17.0 and not kept["result"]["remaster"]
    assert again["result"]["remaster"] and again["result"]["seconds"] == pytest.approx(4.0, abs=0.01)
    assert again["result"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.1)  # apple; preview of a 4 s song
    master = studio.get(f"/api/jobs/{again['id']}/recipe").json()["master"]["chain"]
    assert "target apple (-16 LUFS)" in next(s for s in master if s["type"] == "gain")["reason"]


def test_bad_render_requests(studio):
    project_id, mix = _mixed(studio)
    broken = studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": {"tracks": [{"name": "x", "chain": 3}]}})
    assert broken.status_code == 400 and "tracks[0].chain" in broken.json()["error"]
    recipe = studio.get(f"/api/jobs/{mix['id']}/recipe").json()
    recipe["tracks"][0]["name"] = "stranger"
    job = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe}).json()["id"])
    assert job["status"] == "failed" and "'stranger' is not a stem of this project" in job["error"]
    assert studio.get(f"/api/jobs/{mix['id']}/files/passwd").status_code == 404
    assert studio.get(f"/api/jobs/{mix['id']}/files/..%2F..%2Fstudio.db").status_code == 404
    assert studio.get(f"/api/jobs/{'2' * 32}").status_code == 404
    assert studio.post(f"/api/projects/{project_id}/mix", json={"method": "magic"}).status_code == 400
    optimize = _wait(studio, studio.post(f"/api/projects/{project_id}/mix", json={"method": "optimize"}).json()["id"])
    assert optimize["status"] == "failed" and "expected a reference mix" in optimize["error"]


def test_analysis_detects_roles(studio):
    project_id = _project(studio)
    _upload(studio, project_id, "bass.wav", _wav(60, 4.0))
    job = _wait(studio, studio.post(f"/api/projects/{project_id}/analyse").json()["id"])
    assert job["status"] == "done", job["error"]
    track = studio.get(f"/api/projects/{project_id}").json()["stems"][0]
    assert track["detected_role"] == "bass" and 0 < track["role_confidence"] <= 1
    assert track["loudness_lufs"] == pytest.approx(-14.0, abs=4.0)


def test_events_stream_the_project_state(studio):
    project_id = _project(studio)
    with studio.stream("GET", f"/api/projects/{project_id}/events") as events:
        line = next(line for line in events.iter_lines() if line.startswith("data: "))
    assert json.loads(line[len("data: "):])["id"] == project_id
    assert studio.get(f"/api/projects/{'3' * 32}/events").status_code == 404


def _bass_edit(studio, job_id, gain_change_db):
    """The recipe of job ``job_id`` with the bass fader moved by ``gain_change_db``."""
    recipe = studio.get(f"/api/jobs/{job_id}/recipe").json()
    bass = next(t for t in recipe["tracks"] if t["name"] == "bass")
    gain = next(s for s in bass["chain"] if s["type"] == "gain" and not s.get("bypass"))
    gain["params"]["gain_db"] += gain_change_db
    return recipe, gain["params"]["gain_db"]


def test_versions_are_kept_listed_and_restored(studio):
    """Every mix and whole-song render of an edit is a numbered version with what changed; the newest is
    current (what a reload shows); restoring an earlier one makes it current and deletes nothing; an edit of a
    restored version says which one it edits; previews are no versions; downloads carry the number."""
    project_id, mix = _mixed(studio)
    state = studio.get(f"/api/projects/{project_id}").json()
    assert state["current_version"] == 1 and [(v["number"], v["label"], v["current"]) for v in state["versions"]] \
        == [(1, "first mix (rules)", True)]
    assert state["versions"][0]["job"] == state["versions"][0]["mix_job"] == mix["id"]

    recipe, bass_db = _bass_edit(studio, mix["id"], -6.0)
    preview = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render",
                                        json={"recipe": recipe, "preview": True}).json()["id"])
    edit = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe}).json()["id"])
    assert preview["status"] == edit["status"] == "done"
    remastered = _wait(studio, studio.post(f"/api/jobs/{edit['id']}/render",
                                           json={"recipe": recipe, "remaster": True}).json()["id"])
    assert remastered["status"] == "done", remastered["error"]
    state = studio.get(f"/api/projects/{project_id}").json()
    assert [(v["number"], v["label"]) for v in state["versions"]] == [
        (1, "first mix (rules)"), (2, "edit: bass -6 dB"), (3, "mastered again")]  # the preview is none
    assert state["current_version"] == 3 and [v["job"] for v in state["versions"][1:]] == [edit["id"],
                                                                                             remastered["id"]]
    current = state["versions"][2]
    assert current["files"]["mix"] == f"/api/jobs/{remastered['id']}/files/mix" and current["remaster"]
    assert current["files"]["raw"] == f"/api/jobs/{mix['id']}/files/raw" and current["mix_version"] == 1
    assert current["integrated_lufs"] == pytest.approx(remastered["result"]["integrated_lufs"])

    restored = studio.post(f"/api/projects/{project_id}/versions/1/restore")
    assert restored.status_code == 200 and restored.json()["current_version"] == 1
    assert len(restored.json()["versions"]) == 3  # nothing deleted
    assert studio.get(f"/api/projects/{project_id}").json()["current_version"] == 1  # kept for the next reload
    recipe, _ = _bass_edit(studio, mix["id"], +3.0)
    recipe["tracks"][1]["mute"] = True
    again = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe}).json()["id"])
    state = studio.get(f"/api/projects/{project_id}").json()
    assert state["current_version"] == 4 and state["versions"][3]["label"] == "edit of version 1: bass +3 dB, keys muted"
    download = studio.get(f"/api/jobs/{again['id']}/files/mix?download=1")
    assert 'filename="Song-v4-mix.wav"' in download.headers["content-disposition"]
    recipe_download = studio.get(f"/api/jobs/{edit['id']}/files/recipe?download=1")
    assert 'filename="Song-v2-recipe.json"' in recipe_download.headers["content-disposition"]
    bass = next(t for t in recipe_download.json()["tracks"] if t["name"] == "bass")
    assert next(s for s in bass["chain"] if s["type"] == "gain")["params"]["gain_db"] == pytest.approx(bass_db)
    stems = studio.get(f"/api/jobs/{mix['id']}/stems.zip")
    assert 'filename="Song-v1-stems.zip"' in stems.headers["content-disposition"]
    missing = studio.post(f"/api/projects/{project_id}/versions/9/restore")
    assert missing.status_code == 404 and "version 9: not found" in missing.json()["error"]


def test_an_older_database_gets_versions_of_its_mixes(tmp_path):
    """A studio from before versions: its finished mixes and whole-song renders become versions in place (the
    last one current), on a database without the table and the column."""
    from sqlalchemy import text

    from mixdown.app.store import Job, Project, dispose, open_database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    factory = open_database(url)
    with factory.begin() as db:
        db.execute(text("DROP TABLE versions"))
        db.execute(text("ALTER TABLE projects DROP COLUMN current_version"))  # as a studio before versions
        db.execute(text("INSERT INTO projects (id, name, created, target) VALUES ('p1', 'Old', 1.0, 'spotify')"))
        for k, (kind, result) in enumerate([("mix", {"method": "rules", "recipe": "out/recipe.json"}),
                                            ("render", {"preview": True, "mix_job": "j0"}),
                                            ("render", {"preview": False, "mix_job": "j0"}),
                                            ("render", {"preview": False, "remaster": True, "mix_job": "j0"})]):
            db.execute(text("INSERT INTO jobs (id, project_id, kind, status, stage, fraction, params, result, "
                            "attempts, created, updated) VALUES (:id, 'p1', :kind, 'done', 'done', 1.0, '{}', "
                            ":result, 1, :t, :t)"), {"id": f"j{k}", "kind": kind, "result": json.dumps(result),
                                                      "t": 10.0 + k})
    dispose(factory)
    factory = open_database(url)
    with factory() as db:
        project = db.get(Project, "p1")
        assert project.current_version == 3
        assert [(v.number, v.job_id, v.mix_job_id, v.label) for v in project.versions] == [
            (1, "j0", "j0", "first mix (rules)"), (2, "j2", "j0", "edit (made before versions were kept)"),
            (3, "j3", "j0", "mastered again")]
        assert db.get(Job, "j1").result["preview"]
    dispose(factory)
    factory = open_database(url)  # once only
    with factory() as db:
        assert len(db.get(Project, "p1").versions) == 3
    dispose(factory)


def test_a_stereo_stems_pan_preference_left_out_by_the_mix_is_a_warning(studio):
    """The mixers keep a stereo track's image: a stereo stem asked to the left is not panned, and the mix says so
    (with the balance the page offers); a mono stem's preference is followed and not listed."""
    project_id = _project(studio)
    keys = _upload(studio, project_id, "keys.wav", _wav(440, 4.0, channels=2)).json()
    lead = _upload(studio, project_id, "lead.wav", _wav(880, 4.0)).json()
    _upload(studio, project_id, "bass.wav", _wav(80, 4.0))
    for track, side in ((keys, "left"), (lead, "right")):
        studio.patch(f"/api/projects/{project_id}/files/{track['id']}", json={"pan": side}).raise_for_status()
    mix = _wait(studio, studio.post(f"/api/projects/{project_id}/mix", json={"method": "rules"}).json()["id"])
    assert mix["status"] == "done", mix["error"]
    assert mix["result"]["balances"] == [{"track": "keys", "pan": "left", "balance": -0.6}]
    said = [w for w in mix["result"]["warnings"] if ": pan " in w]
    assert len(said) == 1 and said[0].startswith("keys: pan left was not applied: the stem is stereo") and "fix:" in said[0]
    version = studio.get(f"/api/projects/{project_id}").json()["versions"][0]
    assert version["balances"] == mix["result"]["balances"] and said[0] in version["warnings"]
    recipe = studio.get(f"/api/jobs/{mix['id']}/recipe").json()
    lead_pan = next(s for s in next(t for t in recipe["tracks"] if t["name"] == "lead")["chain"] if s["type"] == "pan")
    assert lead_pan["params"]["pan"] > 0  # the mono one went right


def test_edit_labels_say_what_changed():
    from mixdown.app.versions import describe_edit, edit_label, mix_label

    before = {"tracks": [
        {"name": "bass", "chain": [{"type": "gain", "params": {"gain_db": -3.2}},
                                   {"type": "parametric_eq", "params": {"peak1_gain_db": -4.0, "peak1_freq_hz": 200}},
                                   {"type": "compressor", "params": {"ratio": 3.0}}], "sends": []},
        {"name": "keys", "chain": [{"type": "highpass", "params": {"cutoff_hz": 80}}],
         "sends": [{"to": "reverb", "level_db": -18.0}]}],
        "master": {"chain": [{"type": "gain", "params": {"gain_db": 4.0}}, {"type": "limiter", "params": {}}]}}
    after = json.loads(json.dumps(before))
    assert describe_edit(before, after) == ""
    bass, keys = after["tracks"]
    bass["chain"][0]["params"]["gain_db"] = -9.2
    bass["chain"][1]["params"]["peak1_gain_db"] = -2.0
    bass["chain"][2]["params"]["ratio"] = 2.0
    keys["chain"].append({"type": "pan", "params": {"pan": -0.6}})
    keys["sends"] = []
    keys["mute"] = True
    assert describe_edit(before, after) == ("bass -6 dB, bass EQ \N{MULTIPLICATION SIGN}0.5, bass dynamics 2:1, keys pan L60, "
                                            "2 more")
    only_master = json.loads(json.dumps(before))
    only_master["master"]["chain"][0]["params"]["gain_db"] = 5.5
    assert describe_edit(before, only_master) == "master +1.5 dB"
    other = json.loads(json.dumps(before))
    other["tracks"][1]["chain"][0]["params"]["cutoff_hz"] = 120
    assert describe_edit(before, other) == "other changes"
    assert mix_label("rules", True) == "first mix (rules)" and mix_label("dmc", False) == "new mix (dmc)"
    assert edit_label("bass -6 dB", False, 2, 2) == "edit: bass -6 dB"
    assert edit_label("bass -6 dB", False, 1, 3) == "edit of version 1: bass -6 dB"
    assert edit_label("", True, 3, 3) == "mastered again"
    assert edit_label("master +1 dB", True, 1, 3) == "mastered again after: master +1 dB (from version 1)"
    assert edit_label("", False, None, 3) == "rendered again (no change)"
