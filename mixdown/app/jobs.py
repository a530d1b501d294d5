"""The background worker: runs the studio's jobs one at a time, off the request threads, with their progress in
the database so any page (or a restarted server) sees it.

A job is claimed (queued -> running) in one transaction. A server that stops (SIGTERM, Ctrl-C) puts its running
job back in the queue at once, without waiting for it (a mix may take minutes; the stop may not), and writes
nothing more for it; the next start runs it from the start (its outputs are written atomically into its own
folder, so nothing half-written is ever served). A server that crashes leaves its job marked running: the next
start queues it again, up to ``MAX_ATTEMPTS`` crashed starts; after that it fails with a message that says so.
A job's progress only moves forward within one start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mixdown.app.store import Job, now
from mixdown.errors import MixdownError

__all__ = ["MAX_ATTEMPTS", "Finish", "Handler", "Scrub", "Worker"]

MAX_ATTEMPTS = 3
_PROGRESS_EVERY_S = 0.25  # the most often a job's progress is written

# handler(job, progress) -> result: progress(fraction in [0, 1], stage)
Handler = Callable[[Job, Callable[[float, str], None]], dict]
# scrub(job, message) -> the message as the page may show it (no server paths)
Scrub = Callable[[Job, str], str]
# finish(db, job): called in the transaction that marks the job done (its result set), e.g. to record a version
Finish = Callable[[Session, Job], None]
log = logging.getLogger("mixdown.studio")


class Worker:
    """One thread that runs queued jobs in the order they were made.

    Args:
        factory: the database's session factory.
        handlers: ``{job kind: handler}``.
        scrub: rewrites a failed job's message before it is kept (the studio's takes server paths out).
        finish: runs in the transaction that marks a job done.
    """

    def __init__(self, factory: sessionmaker, handlers: dict[str, Handler], scrub: Scrub | None = None,
                 finish: Finish | None = None):
        self.factory, self.handlers = factory, handlers
        self.scrub = scrub or (lambda _job, message: message)
        self.finish = finish
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a claim and a stop do not interleave
        self._current: str | None = None  # the job being run
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Re-queue what a stop cut off, then start the thread."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="mixdown-worker", daemon=True)
        self._thread.start()

    def stopping(self) -> None:
        """Claim nothing more, and make the running job's next progress report end it (a signal handler may call
        this: it only sets events)."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop: the running job goes back to the queue now (the next start runs it again) and nothing more is
        written for it; the thread gets ``timeout`` seconds to notice, then is left to end with the process (it
        is a daemon: a long render does not hold the stop)."""
        with self._lock:
            self.stopping()
            current = self._current
        if current is not None:
            self._requeue(current)
        if self._thread is not None:
            self._thread.join(timeout)

    def _requeue(self, job_id: str) -> None:
        """Back to the queue, unless it ended meanwhile; a clean stop does not count as an attempt."""
        with self.factory.begin() as db:
            db.execute(update(Job).where(Job.id == job_id, Job.status == "running").values(
                status="queued", stage="queued again: the studio stopped while it ran", fraction=0.0,
                attempts=Job.attempts - 1, updated=now()))

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
        with self._lock, self.factory.begin() as db:
            if self._stop.is_set():
                return None
            job = db.scalars(select(Job).where(Job.status == "queued").order_by(Job.created).limit(1)).first()
            if job is None:
                return None
            job.status, job.stage, job.fraction, job.attempts, job.updated = "running", "starting", 0.0, \
                job.attempts + 1, now()
            self._current = job.id
            return job

    def _run(self, job: Job) -> None:
        last = [0.0, 0.0]  # when progress was last written, and the furthest fraction so far

        def progress(fraction: float, stage: str) -> None:
            if self._stop.is_set():
                raise _Stopped
            last[1] = max(last[1], min(max(float(fraction), 0.0), 1.0))  # forward only
            if time.monotonic() - last[0] < _PROGRESS_EVERY_S:
                return
            last[0] = time.monotonic()
            self._update(job.id, stage=stage, fraction=last[1])

        try:
            handler = self.handlers[job.kind]
            result = handler(job, progress)
        except Exception as e:
            if self._stop.is_set():  # stopped mid-job (whatever that made the job raise): it is queued again
                self._requeue(job.id)
            elif isinstance(e, MixdownError):
                self._update(job.id, status="failed", error=self._shown(job, str(e)))
            else:  # a bug: the page still gets a message, the log the traceback
                log.exception("job %s (%s) failed", job.id, job.kind)
                self._update(job.id, status="failed", error=self._shown(
                    job, f"internal error ({type(e).__name__}: {e}); fix: report it with the server's log"))
        else:
            try:
                self._update(job.id, status="done", stage="done", fraction=1.0, result=result)
            except Exception as e:  # recording the result failed (a bug): the job fails with a message
                log.exception("job %s (%s): recording its result failed", job.id, job.kind)
                self._update(job.id, status="failed", error=self._shown(
                    job, f"internal error recording the result ({type(e).__name__}); fix: report it with the "
                         "server's log"))
        finally:
            with self._lock:
                self._current = None

    def _shown(self, job: Job, message: str) -> str:
        try:
            return self.scrub(job, message)
        except Exception:  # a bug: the page gets a message without details, the log the message
            log.exception("scrubbing the message of job %s failed: %s", job.id, message)
            return f"{job.kind} failed; fix: see the server's log for why"

    def _update(self, job_id: str, **values) -> None:
        """Write the running job's progress or its end; nothing once a stop has put it back in the queue."""
        with self.factory.begin() as db:
            job = db.get(Job, job_id)
            if job is None or job.status != "running":  # its project was deleted, or a stop queued it again
                return
            for key, value in values.items():
                setattr(job, key, value)
            job.updated = now()
            if values.get("status") == "done" and self.finish is not None:
                db.flush()
                self.finish(db, job)


class _Stopped(Exception):
    """Raised from a job's progress report when the worker stops: the job ends there and is queued again."""
