"""The studio on PostgreSQL (``mixdown serve --database postgresql+psycopg://...``): a throwaway cluster is
started for the module when PostgreSQL's server programs are installed (Debian's postgresql package)."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("psycopg")
pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mixdown.app.server import create_app
from mixdown.app.settings import StudioSettings
from tests.test_studio_api import _project, _upload, _wait, _wav

_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)
pytestmark = pytest.mark.skipif(_BIN is None, reason="no PostgreSQL server programs (apt install postgresql)")


@pytest.fixture(scope="module")
def postgres_url():
    folder = Path(tempfile.mkdtemp(prefix="mixdown-pg-"))  # not under pytest's folder, which only root may enter
    os.chmod(folder, 0o777)
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    data = folder / "data"
    subprocess.run([*as_owner, f"{_BIN}/initdb", "-D", str(data), "-U", "mixdown", "--auth=trust", "-E", "UTF8"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*as_owner, f"{_BIN}/postgres", "-D", str(data), "-p", str(port), "-k", str(folder),
                               "-h", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        while subprocess.run([f"{_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                             stdout=subprocess.DEVNULL).returncode != 0:
            assert time.monotonic() < end, "PostgreSQL did not start"
            time.sleep(0.2)
        yield f"postgresql+psycopg://mixdown@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_projects_jobs_and_tests_on_postgresql(postgres_url, tmp_path):
    settings = StudioSettings(tmp_path / "data", database_url=postgres_url, admin_token="t")
    with TestClient(create_app(settings), base_url="http://localhost") as studio:
        project_id = _project(studio, genre="rock")
        for name, f in (("bass.wav", 80), ("keys.wav", 440)):
            assert _upload(studio, project_id, name, _wav(f, 4.0)).status_code == 201
        mix = _wait(studio, studio.post(f"/api/projects/{project_id}/mix", json={"method": "rules"}).json()["id"])
        assert mix["status"] == "done", mix["error"]
        assert mix["result"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)
        test = studio.post("/api/tests", headers={"Authorization": "Bearer t"}, json={
            "name": "pg", "seconds": 2.0, "trials": [{"project_id": project_id, "mixes": [mix["id"]]}]}).json()
        plan = studio.post(f"/api/listen/{test['id']}/join?key={test['link'].split('key=')[1]}").json()
        ratings = [{"stimulus": s["id"], "criterion": "clarity", "value": 70.0} for s in plan["trials"][0]["stimuli"]]
        assert studio.post(f"/api/listen/p/{plan['participant']}/ratings", json={"ratings": ratings}).status_code == 200
        results = studio.get(f"/api/tests/{test['id']}/results", headers={"Authorization": "Bearer t"}).json()
        assert results["ratings"] == 3 and all(r["mean"] == 70.0 for r in results["summary"])
        recipe = studio.get(f"/api/jobs/{mix['id']}/recipe").json()
        recipe["tracks"][0]["mute"] = True
        edit = _wait(studio, studio.post(f"/api/jobs/{mix['id']}/render", json={"recipe": recipe}).json()["id"])
        assert edit["status"] == "done", edit["error"]
        assert studio.post(f"/api/projects/{project_id}/versions/1/restore").json()["current_version"] == 1
    with TestClient(create_app(settings), base_url="http://localhost") as studio:  # a restart finds everything in the database
        state = studio.get(f"/api/projects/{project_id}").json()
        assert [s["name"] for s in state["stems"]] == ["bass", "keys"] and state["jobs"][0]["status"] == "done"
        assert state["current_version"] == 1  # the version restored, and both kept
        assert [(v["number"], v["label"]) for v in state["versions"]] == [(1, "first mix (rules)"), (2, "edit: bass muted")]
        assert studio.delete(f"/api/projects/{project_id}").status_code == 204  # with its versions


def test_an_older_postgresql_database_gets_versions_in_place(postgres_url, tmp_path):
    """A PostgreSQL database made before versions: the column is added and the finished mixes become versions."""
    from sqlalchemy import text

    from mixdown.app.store import Project, dispose, open_database

    factory = open_database(postgres_url)
    with factory.begin() as db:
        db.execute(text("DROP TABLE versions"))
        db.execute(text("ALTER TABLE projects DROP COLUMN current_version"))
        db.execute(text("INSERT INTO projects (id, name, created, target) VALUES ('old', 'Old', 1.0, 'spotify')"))
        db.execute(text("INSERT INTO jobs (id, project_id, kind, status, stage, fraction, params, result, attempts, "
                        "created, updated) VALUES ('oldmix', 'old', 'mix', 'done', 'done', 1.0, '{}', "
                        "'{\"method\": \"dmc\"}', 1, 2.0, 2.0)"))
    dispose(factory)
    factory = open_database(postgres_url)
    try:
        with factory() as db:
            project = db.get(Project, "old")
            assert project.current_version == 1
            assert [(v.number, v.job_id, v.label) for v in project.versions] == [(1, "oldmix", "first mix (dmc)")]
        with factory.begin() as db:
            db.delete(db.get(Project, "old"))
    finally:
        dispose(factory)
