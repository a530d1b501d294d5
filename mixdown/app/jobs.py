"""The background worker: runs the studio's jobs one at a time, off the request threads, with their progress in
the database so any page (or a restarted server) sees it.

A job is claimed (queued -> running) in one transaction. If the server stops while a job runs, the job is still
marked running when the next server starts: it is queued again and runs from the start (its outputs are
written atomically into its own folder, so nothing half-written is ever served), up to ``MAX_ATTEMPTS`` starts;
after that it fails with a message that says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mixdown.app.store import Job, now
from mixdown.errors import MixdownError

__all__ = ["MAX_ATTEMPTS", "Handler", "Scrub", "Worker"]

MAX_ATTEMPTS = 3
_PROGRESS_EVERY_S = 0.25  # the most often a job's progress is written

# handler(job, progress) -> result: progress(fraction in [0, 1], stage)
Handler = Callable[[Job, Callable[[float, str], None]], dict]
# scrub(job, message) -> the message as the page may show it (no server paths)
Scrub = Callable[[Job, str], str]
log = logging.getLogger("mixdown.studio")


class Worker:
    """One thread that runs queued jobs in the order they were made.

    Args:
        factory: the database's session factory.
        handlers: ``{job kind: handler}``.
        scrub: rewrites a failed job's message before it is kept (the studio's takes server paths out).
    """

    def __init__(self, factory: sessionmaker, handlers: dict[str, Handler], scrub: Scrub | None = None):
        self.factory, self.handlers = factory, handlers
        self.scrub = scrub or (lambda _job, message: message)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Re-queue what a stop cut off, then start the thread."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="mixdown-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop after its current job (a job still running is resumed at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        """A job was queued."""
        self._wake.set()

    def recover(self) -> int:
        """Queue again every job a stop left running (or fail it after ``MAX_ATTEMPTS``); returns how many."""
        with self.factory.begin() as db:
            cut = db.scalars(select(Job).where(Job.status == "running")).all()
            for job in cut:
                if job.attempts >= MAX_ATTEMPTS:
                    job.status, job.error = "failed", (
                        f"the studio stopped {job.attempts} times while this {job.kind} ran; fix: start it again, "
                        "and if it stops the server again, run it with the command line to see why")
                else:
                    job.status, job.stage, job.fraction = "queued", "queued again after a restart", 0.0
                job.updated = now()
        return len(cut)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self._claim()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _claim(self) -> Job | None:
        with self.factory.begin() as db:
            job = db.scalars(select(Job).where(Job.status == "queued").order_by(Job.created).limit(1)).first()
            if job is None:
                return None
            job.status, job.stage, job.fraction, job.attempts, job.updated = "running", "starting", 0.0, \
                job.attempts + 1, now()
            return job

    def _run(self, job: Job) -> None:
        last = [0.0]

        def progress(fraction: float, stage: str) -> None:
            if time.monotonic() - last[0] < _PROGRESS_EVERY_S:
                return
            last[0] = time.monotonic()
            self._update(job.id, stage=stage, fraction=min(max(float(fraction), 0.0), 1.0))

        try:
            handler = self.handlers[job.kind]
            result = handler(job, progress)
        except MixdownError as e:
            self._update(job.id, status="failed", error=self._shown(job, str(e)))
        except Exception as e:  # a bug: the page still gets a message, the log the traceback
            log.exception("job %s (%s) failed", job.id, job.kind)
            self._update(job.id, status="failed", error=self._shown(
                job, f"internal error ({type(e).__name__}: {e}); fix: report it with the server's log"))
        else:
            self._update(job.id, status="done", stage="done", fraction=1.0, result=result)

    def _shown(self, job: Job, message: str) -> str:
        try:
            return self.scrub(job, message)
        except Exception:  # a bug: the page gets a message without details, the log the message
            log.exception("scrubbing the message of job %s failed: %s", job.id, message)
            return f"{job.kind} failed; fix: see the server's log for why"

    def _update(self, job_id: str, **values) -> None:
        with self.factory.begin() as db:
            job = db.get(Job, job_id)
            if job is None:  # its project was deleted meanwhile
                return
            for key, value in values.items():
                setattr(job, key, value)
            job.updated = now()
