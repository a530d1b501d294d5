"""Listening tests through the studio's API: building, joining, rating, results."""

import csv
import io

import pyloudnorm
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mixdown.app.server import create_app
from mixdown.app.settings import StudioSettings
from tests.test_studio_api import _project, _upload, _wait, _wav


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    settings = StudioSettings(tmp_path_factory.mktemp("studio"), admin_token="secret-token")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.settings = settings
        songs = []
        for k, with_reference in enumerate((True, False)):
            project_id = _project(client, target="-16")
            for name, f in (("bass", 80 + k), ("keys", 440), ("lead", 880)):
                _upload(client, project_id, f"{name}.wav", _wav(f, 6.0))
            if with_reference:
                _upload(client, project_id, "ref.wav", _wav(300, 6.0, 2, 0.2), "reference")
            mixes = [_wait(client, client.post(f"/api/projects/{project_id}/mix", json={"method": m}).json()["id"])
                     for m in ("rules", "dmc")]
            assert all(m["status"] == "done" for m in mixes), [m["error"] for m in mixes]
            songs.append((project_id, [m["id"] for m in mixes]))
        client.songs = songs
        yield client


ADMIN = {"Authorization": "Bearer secret-token"}


def _create(studio, **extra):
    body = {"name": "A/B", "seconds": 3.0,
            "trials": [{"project_id": p, "mixes": mixes} for p, mixes in studio.songs]} | extra
    answer = studio.post("/api/tests", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_admin_routes_need_the_token(studio):
    assert studio.get("/api/tests").status_code == 403
    wrong = studio.get("/api/tests", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and "admin token: expected" in wrong.json()["error"]
    assert studio.get("/api/tests?token=secret-token").status_code == 200
    assert studio.post("/api/tests", json={}).status_code == 403  # refused before the body is even read


def test_a_whole_session_from_link_to_results(studio):
    test = _create(studio)
    assert sorted(test["conditions"]) == ["anchor", "dmc", "hidden reference", "raw sum", "rules"]
    assert len(test["trials"]) == 2
    test_id, key = test["id"], test["link"].split("key=")[1]
    assert studio.post(f"/api/listen/{test_id}/join?key=wrong").status_code == 403

    plans = [studio.post(f"/api/listen/{test_id}/join?key={key}").json() for _ in range(2)]
    one = plans[0]
    assert [len(t["stimuli"]) for t in one["trials"]] in ([5, 4], [4, 5])  # the hidden reference where there is one
    assert sum(t["reference"] is not None for t in one["trials"]) == 1
    assert studio.get(f"/api/listen/p/{one['participant']}").json()["trials"] == one["trials"]  # a reload: same order
    orders = {tuple(s["id"] for t in p["trials"] for s in t["stimuli"]) for p in plans}
    assert len(orders) == 2  # each participant their own order
    assert all("condition" not in s for t in one["trials"] for s in t["stimuli"])  # nothing gives a condition away

    stimulus = one["trials"][0]["stimuli"][0]
    audio, rate = sf.read(io.BytesIO(studio.get(stimulus["audio"]).content))
    assert audio.shape == (3 * rate, 2)
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-23.0, abs=0.1)
    other = plans[1]["participant"]
    assert studio.get(f"/api/listen/p/{other}/audio/{'f' * 32}").status_code == 404

    base = {"rules": 80.0, "dmc": 70.0, "raw sum": 40.0, "hidden reference": 95.0, "anchor": 10.0}
    from sqlalchemy import select

    from mixdown.app.store import Stimulus

    with studio.app.state.factory() as db:  # the test knows what each letter is; the participant does not
        condition_of = {s.id: s.condition for s in db.scalars(select(Stimulus))}
    for k, plan in enumerate(plans):
        for trial in plan["trials"]:
            ratings = [{"stimulus": s["id"], "criterion": c, "value": base[condition_of[s["id"]]] + 2 * k}
                       for s in trial["stimuli"] for c in plan["criteria"]]
            saved = studio.post(f"/api/listen/p/{plan['participant']}/ratings", json={"ratings": ratings})
            assert saved.json() == {"saved": len(ratings)}
        assert studio.post(f"/api/listen/p/{plan['participant']}/finish").json()["finished"]
    again = studio.post(f"/api/listen/p/{one['participant']}/ratings",  # a change of mind replaces the answer
                        json={"ratings": [{"stimulus": stimulus["id"], "criterion": "clarity", "value": 0}]})
    assert again.status_code == 200

    results = studio.get(f"/api/tests/{test_id}/results", headers=ADMIN).json()
    assert (results["participants"], results["finished"]) == (2, 2)
    rows = {(r["criterion"], r["condition"]): r for r in results["summary"]}
    rules = rows[("excitement", "rules")]
    assert rules["count"] == 4 and rules["mean"] == pytest.approx(81.0)  # 80, 80, 82, 82
    assert rules["ci95"][0] < 81.0 < rules["ci95"][1]
    assert rows[("excitement", "hidden reference")]["count"] == 2
    table = list(csv.DictReader(io.StringIO(studio.get(f"/api/tests/{test_id}/results.csv", headers=ADMIN).text)))
    assert len(table) == results["ratings"] == sum(len(t["stimuli"]) for p in plans for t in p["trials"]) * 3
    assert {r["condition"] for r in table} == set(base)
    png = studio.get(f"/api/tests/{test_id}/results.png", headers=ADMIN)
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_bad_answers_and_tests_are_refused(studio):
    test = _create(studio, hidden_reference=False, anchor=False, criteria=["clarity"])
    assert sorted(test["conditions"]) == ["dmc", "raw sum", "rules"]
    plan = studio.post(f"/api/listen/{test['id']}/join?key={test['link'].split('key=')[1]}").json()
    stimulus = plan["trials"][0]["stimuli"][0]["id"]
    url = f"/api/listen/p/{plan['participant']}/ratings"
    assert studio.post(url, json={"ratings": [{"stimulus": stimulus, "criterion": "clarity", "value": 101}]}).status_code == 422
    wrong = studio.post(url, json={"ratings": [{"stimulus": stimulus, "criterion": "excitement", "value": 50}]})
    assert wrong.status_code == 400 and "criterion 'excitement'" in wrong.json()["error"]
    foreign = studio.post(url, json={"ratings": [{"stimulus": "a" * 32, "criterion": "clarity", "value": 50}]})
    assert foreign.status_code == 400 and "not rated in this test" in foreign.json()["error"]
    assert studio.get(f"/api/listen/p/{'b' * 32}").status_code == 404
    project_id, mixes = studio.songs[0]
    bad = studio.post("/api/tests", headers=ADMIN, json={"name": "x", "trials": [
        {"project_id": project_id, "mixes": [studio.songs[1][1][0]]}]})
    assert bad.status_code == 400 and "not a finished full mix of this project" in bad.json()["error"]
    before = sorted(p.name for p in (studio.settings.data_dir / "tests").iterdir())
    assert studio.post("/api/tests", headers=ADMIN, json={"name": "x", "trials": [
        {"project_id": "c" * 32, "mixes": mixes}]}).status_code == 404
    assert sorted(p.name for p in (studio.settings.data_dir / "tests").iterdir()) == before  # nothing left over
    assert studio.delete(f"/api/tests/{test['id']}", headers=ADMIN).status_code == 204
    assert not (studio.settings.data_dir / "tests" / test["id"]).exists()
