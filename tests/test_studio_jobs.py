"""The studio's worker: failures reach the page as messages, and a server stopped mid-job resumes it."""

import io
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
import httpx

from mixdown.app.jobs import MAX_ATTEMPTS, Worker
from mixdown.app.store import Job, Project, open_database
from mixdown.errors import ParameterError


def _jobs(factory, *specs):
    with factory.begin() as db:
        project = Project(name="p")
        db.add(project)
        db.flush()
        jobs = [Job(project_id=project.id, kind=kind, status=status, attempts=attempts)
                for kind, status, attempts in specs]
        db.add_all(jobs)
        db.flush()
        return [j.id for j in jobs]


def _status(factory, job_id):
    with factory() as db:
        job = db.get(Job, job_id)
        return job.status, job.error, job.result, job.attempts


def test_worker_runs_jobs_and_reports_failures(tmp_path):
    factory = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def refuse(job, progress):
        raise ParameterError("method: expected rules, found magic; fix: pick one")

    def work(job, progress):
        progress(0.5, "halfway")
        return {"answer": 42}

    worker = Worker(factory, {"refuse": refuse, "bug": lambda job, progress: 1 / 0, "work": work})
    ids = _jobs(factory, ("refuse", "queued", 0), ("bug", "queued", 0), ("work", "queued", 0))
    worker.start()
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and _status(factory, ids[-1])[0] != "done":
            time.sleep(0.05)
    finally:
        worker.stop()
    assert _status(factory, ids[0])[:2] == ("failed", "method: expected rules, found magic; fix: pick one")
    status, error, _, _ = _status(factory, ids[1])
    assert status == "failed" and error.startswith("internal error (ZeroDivisionError")
    assert _status(factory, ids[2]) == ("done", None, {"answer": 42}, 1)


def test_jobs_cut_off_by_a_stop_are_queued_again_then_given_up(tmp_path):
    factory = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    again, given_up, untouched = _jobs(factory, ("mix", "running", 1), ("mix", "running", MAX_ATTEMPTS),
                                       ("mix", "done", 1))
    assert Worker(factory, {}).recover() == 2
    assert _status(factory, again)[0] == "queued"
    status, error, _, _ = _status(factory, given_up)
    assert status == "failed" and f"stopped {MAX_ATTEMPTS} times" in error and "fix:" in error
    assert _status(factory, untouched)[0] == "done"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data, port):
    server = subprocess.Popen([sys.executable, "-m", "mixdown.cli", "serve", "--data", str(data), "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("the studio did not start")


def test_a_mix_cut_off_by_a_killed_server_resumes_after_restart(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(tmp_path, port)
    try:
        project = httpx.post(f"{url}/api/projects", json={"name": "cut"}).json()
        t = np.arange(30 * 44100) / 44100
        for name, f in (("bass", 80.0), ("keys", 440.0), ("lead", 880.0)):
            buffer = io.BytesIO()
            sf.write(buffer, 0.3 * np.sin(2 * np.pi * f * t), 44100, format="WAV")
            httpx.post(f"{url}/api/projects/{project['id']}/files", content=buffer.getvalue(),
                       headers={"X-Filename": f"{name}.wav"}).raise_for_status()
        job = httpx.post(f"{url}/api/projects/{project['id']}/mix", json={"method": "rules"}).json()
        end = time.monotonic() + 60
        while httpx.get(f"{url}/api/jobs/{job['id']}").json()["status"] != "running":
            assert time.monotonic() < end, "the mix never started"
            time.sleep(0.02)
        os.kill(server.pid, signal.SIGKILL)  # a crash, not a clean stop
        server.wait()
        server = _start(tmp_path, port)
        end = time.monotonic() + 120
        while (state := httpx.get(f"{url}/api/jobs/{job['id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < end, f"the mix did not resume: {state}"
            time.sleep(0.2)
        assert state["status"] == "done" and state["attempts"] == 2, state
        mix = httpx.get(f"{url}{state['files']['mix']}")
        audio, _ = sf.read(io.BytesIO(mix.content))
        assert audio.shape == (30 * 44100, 2) and np.abs(audio).max() > 0.1
        leftovers = [p.name for p in (tmp_path / "jobs" / job["id"] / "out").iterdir() if p.name.startswith(".")]
        assert leftovers == []  # the cut-off attempt left no temporary files behind
    finally:
        server.kill()
        server.wait()
