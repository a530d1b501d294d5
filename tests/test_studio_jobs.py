"""The studio's worker: failures reach the page as messages, and a server stopped mid-job (SIGTERM with pages
listening, or killed) resumes it; a project deleted under an open event stream ends the stream cleanly."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
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


def test_a_jobs_progress_only_moves_forward(tmp_path):
    """Within one start a job's stored fraction never falls back, whatever its handler reports; the studio's mix
    stages each fill their own span (analysis counted to its end, then rendering from zero, used to fall back)."""
    from mixdown.app.tasks import _staged

    factory = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def work(job, progress):
        seen = []
        for fraction in (0.6, 0.1, 0.3, 0.7):
            progress(fraction, f"at {fraction}")
            time.sleep(0.3)  # past the worker's write interval: each report is written (or not)
            with factory() as db:
                seen.append(db.get(Job, job.id).fraction)
        return {"seen": seen}

    worker = Worker(factory, {"work": work})
    (job_id,) = _jobs(factory, ("work", "queued", 0))
    worker.start()
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and _status(factory, job_id)[0] != "done":
            time.sleep(0.05)
    finally:
        worker.stop()
    assert _status(factory, job_id)[2]["seen"] == [0.6, 0.6, 0.6, 0.7]

    reported = []
    mix = _staged(lambda f, stage: reported.append(f), {"analysing": (0.0, 0.3), "rules": (0.3, 0.45),
                                                        "rendering": (0.45, 0.8), "mastering": (0.8, 0.9)})
    for done, total, stage in [(0, 3, "analysing: reading"), (3, 3, "analysing: measured lead"), (0, 1, "rules"),
                               (1, 1, "rules: decided"), (0, 10, "rendering"), (5, 10, "rendering"),
                               (10, 10, "rendering"), (0, 1, "something new"), (0, 1, "mastering")]:
        mix(done, total, stage)
    assert reported == pytest.approx([0.0, 0.3, 0.3, 0.45, 0.45, 0.625, 0.8, 0.8, 0.8])


def test_a_stop_queues_the_running_job_again_without_waiting_for_it(tmp_path):
    """``Worker.stop`` returns at once with a long job running: the job is queued again (a clean stop is no
    attempt), and nothing the cut-off handler does afterwards is written."""
    factory = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    started, release = threading.Event(), threading.Event()

    def long(job, progress):
        started.set()
        release.wait(20)  # a render that does not report progress for a while
        progress(0.9, "late")
        return {"late": True}

    worker = Worker(factory, {"long": long})
    (job_id,) = _jobs(factory, ("long", "queued", 0))
    worker.start()
    assert started.wait(10)
    began = time.monotonic()
    worker.stop(timeout=0.5)
    assert time.monotonic() - began < 2.0
    release.set()
    time.sleep(0.5)
    with factory() as db:
        job = db.get(Job, job_id)
        assert (job.status, job.attempts, job.fraction, job.result) == ("queued", 0, 0.0, None)
        assert job.stage == "queued again: the studio stopped while it ran"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data, port, log=None):
    """``mixdown serve`` on ``port``, its stderr into the file ``log`` (else nowhere), once it answers."""
    errors = open(log, "ab") if log is not None else subprocess.DEVNULL
    server = subprocess.Popen([sys.executable, "-m", "mixdown.cli", "serve", "--data", str(data), "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=errors)
    if log is not None:
        errors.close()  # the child has its own copy
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("the studio did not start")


def _three_tones(url, name, seconds=30):
    """A project of three ``seconds``-long tones, uploaded: its JSON."""
    project = httpx.post(f"{url}/api/projects", json={"name": name}).json()
    t = np.arange(seconds * 44100) / 44100
    for track, f in (("bass", 80.0), ("keys", 440.0), ("lead", 880.0)):
        buffer = io.BytesIO()
        sf.write(buffer, 0.3 * np.sin(2 * np.pi * f * t), 44100, format="WAV")
        httpx.post(f"{url}/api/projects/{project['id']}/files", content=buffer.getvalue(),
                   headers={"X-Filename": f"{track}.wav"}).raise_for_status()
    return project


def _mix_running(url, project):
    job = httpx.post(f"{url}/api/projects/{project['id']}/mix", json={"method": "rules"}).json()
    end = time.monotonic() + 60
    while httpx.get(f"{url}/api/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < end, "the mix never started"
        time.sleep(0.02)
    return job


def _listen(url, project_id):
    """A page's event stream, read in a thread: ``(thread, [lines])``; the thread ends when the server ends it."""
    lines, opened = [], threading.Event()

    def read():
        try:
            with httpx.stream("GET", f"{url}/api/projects/{project_id}/events", timeout=None) as events:
                for line in events.iter_lines():
                    lines.append(line)
                    opened.set()
        except httpx.HTTPError as e:  # cut off rather than ended: recorded, the test says so
            lines.append(f"cut off: {type(e).__name__}")
        opened.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert opened.wait(20), "the event stream did not open"
    return thread, lines


def _finished(url, job_id, timeout=120):
    end = time.monotonic() + timeout
    while (state := httpx.get(f"{url}/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < end, f"the mix did not resume: {state}"
        time.sleep(0.2)
    return state


def test_sigterm_stops_the_server_quickly_with_pages_listening_and_the_mix_resumes(tmp_path):
    """``mixdown serve`` stops within 5 s of SIGTERM while two pages hold the event stream and a mix runs: the
    streams end, the mix goes back to the queue at once (a clean stop is no failed attempt), and the next start
    on the same --data finishes it."""
    port, log = _free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    server = _start(tmp_path / "data", port, log)
    try:
        project = _three_tones(url, "stopped")
        pages = [_listen(url, project["id"]) for _ in range(2)]
        job = _mix_running(url, project)
        time.sleep(1.0)  # well into the mix
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = server.wait(10)
        took = time.monotonic() - began
        assert took < 5.0, f"the stop took {took:.1f} s"
        assert code in (0, -signal.SIGTERM), code
        for thread, lines in pages:
            thread.join(2)
            assert not thread.is_alive() and not lines[-1].startswith("cut off"), lines[-3:]  # the stream ended, not hung
        factory = open_database(f"sqlite:///{tmp_path / 'data' / 'studio.db'}")
        with factory() as db:
            stopped = db.get(Job, job["id"])
            assert (stopped.status, stopped.attempts) == ("queued", 0), (stopped.status, stopped.stage)
            assert "the studio stopped" in stopped.stage
        server = _start(tmp_path / "data", port, log)
        state = _finished(url, job["id"])
        assert state["status"] == "done" and state["attempts"] == 1, state
        audio, _ = sf.read(io.BytesIO(httpx.get(f"{url}{state['files']['mix']}").content))
        assert audio.shape == (30 * 44100, 2) and np.abs(audio).max() > 0.1
        assert httpx.get(f"{url}/api/projects/{project['id']}").json()["current_version"] == 1
    finally:
        server.kill()
        server.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_a_project_deleted_under_an_open_event_stream_ends_it_cleanly(tmp_path):
    """Another tab deletes the project a page listens to: the stream says ``deleted`` and ends; the server logs
    no error (it used to fail inside the started response: "response already started")."""
    port, log = _free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    server = _start(tmp_path / "data", port, log)
    try:
        project = httpx.post(f"{url}/api/projects", json={"name": "gone"}).json()
        thread, lines = _listen(url, project["id"])
        assert httpx.delete(f"{url}/api/projects/{project['id']}").status_code == 204
        thread.join(10)
        assert not thread.is_alive(), "the stream did not end"
        assert "event: deleted" in lines, lines
        data = json.loads(lines[lines.index("event: deleted") + 1].removeprefix("data: "))
        assert data["id"] == project["id"] and "not found" in data["error"]
    finally:
        server.terminate()
        server.wait(10)
    text = log.read_text()
    assert "response already started" not in text and "Traceback" not in text, text


def test_a_mix_cut_off_by_a_killed_server_resumes_after_restart(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(tmp_path, port)
    try:
        project = _three_tones(url, "cut")
        job = _mix_running(url, project)
        os.kill(server.pid, signal.SIGKILL)  # a crash, not a clean stop
        server.wait()
        server = _start(tmp_path, port)
        state = _finished(url, job["id"])
        assert state["status"] == "done" and state["attempts"] == 2, state
        mix = httpx.get(f"{url}{state['files']['mix']}")
        audio, _ = sf.read(io.BytesIO(mix.content))
        assert audio.shape == (30 * 44100, 2) and np.abs(audio).max() > 0.1
        leftovers = [p.name for p in (tmp_path / "jobs" / job["id"] / "out").iterdir() if p.name.startswith(".")]
        assert leftovers == []  # the cut-off attempt left no temporary files behind
    finally:
        server.kill()
        server.wait()
