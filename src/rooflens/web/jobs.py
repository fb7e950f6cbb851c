"""Long runs (a simulation, a capacity search, an advisor search) as background jobs: a POST
starts one and answers its id, a GET reads its progress and, once done, its answer, a DELETE
cancels it, and the computation stops at its next progress report.

The jobs kept are bounded in number and age, so that a page left polling, or a script that
never reads its answers, cannot grow the server's memory.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})
# Two runs at once: one machine's cores are shared with the page's own analysis requests.
WORKERS = 2
MAX_JOBS = 32
MAX_AGE_S = 15 * 60.0


class Cancelled(Exception):
    """Raised inside a run at its next progress report once its job is cancelled."""


@dataclass
class Job:
    """One run's state; its thread writes it, requests read it (each field is replaced
    whole, so a reader sees either the old or the new value)."""

    id: str
    kind: str
    created: float
    status: Status = "queued"
    phase: str = ""
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def start_phase(self, phase: str, total: int) -> None:
        """A new stage of the run (simulating, searching the capacity, confirming…)."""
        self.check()
        self.phase, self.done, self.total = phase, 0, max(int(total), 0)

    def advance(self, steps: int = 1) -> None:
        """The progress callback the simulator and the advisor call: counts, and stops a
        cancelled run."""
        self.check()
        self.done = min(self.done + int(steps), self.total) if self.total else self.done + steps

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "elapsed": (self.finished or time.monotonic()) - self.created,
            "result": self.result,
            "error": self.error,
        }


Run = Callable[[Job], dict[str, Any]]
ErrorBody = Callable[[Exception], dict[str, Any] | None]


class Jobs:
    """The jobs of one app: started on a small thread pool, kept at most `max_jobs` and
    `max_age_s` seconds (the oldest finished ones go first; running ones are cancelled when
    too old)."""

    def __init__(
        self,
        error_body: ErrorBody,
        workers: int = WORKERS,
        max_jobs: int = MAX_JOBS,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        self.error_body, self.max_jobs, self.max_age_s = error_body, max_jobs, max_age_s
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rooflens-job")
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def start(self, kind: str, run: Run) -> Job:
        job = Job(id=uuid.uuid4().hex, kind=kind, created=time.monotonic())
        with self.lock:
            self._prune()
            self.jobs[job.id] = job
        self.pool.submit(self._run, job, run)
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            self._prune()
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is not None and job.status not in FINISHED:
            job.cancel.set()
            if job.status == "queued":
                self._finish(job, "cancelled")
        return job

    def _run(self, job: Job, run: Run) -> None:
        if job.cancel.is_set():
            return
        job.status = "running"
        try:
            result = run(job)
        except Cancelled:
            self._finish(job, "cancelled")
        except Exception as exc:  # every failure is reported to the page
            body = self.error_body(exc)
            if body is None:
                body = {"message": f"the run failed: {type(exc).__name__}: {exc}", "detail": []}
            job.error = body
            self._finish(job, "failed")
        else:
            job.result = result
            # A phase's total is an upper bound (the capacity search stops once bracketed):
            # a finished run's progress reads complete.
            job.done = job.total
            self._finish(job, "done")

    @staticmethod
    def _finish(job: Job, status: Status) -> None:
        job.finished = time.monotonic()
        job.status = status

    def _prune(self) -> None:
        """Drop jobs past their age (cancelling a running one) and, over the count, the
        oldest finished ones first. Called with the lock held."""
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if now - job.created > self.max_age_s:
                job.cancel.set()
                del self.jobs[job.id]
        by_age = sorted(self.jobs.values(), key=lambda j: (j.status not in FINISHED, j.created))
        for job in by_age[: max(len(self.jobs) - self.max_jobs + 1, 0)]:
            job.cancel.set()
            del self.jobs[job.id]

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
