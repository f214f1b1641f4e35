"""Async jobs: submit a cloak, follow its progress, fetch or cancel it.

    >>> job = client.submit(big_upload, artist_id="ada")          # doctest: +SKIP
    >>> job.status().progress                                       # doctest: +SKIP
    0.25
    >>> result = job.result(timeout=600, progress=print)            # doctest: +SKIP

:class:`Job` and :class:`AsyncJob` are handles (an id and a backend); the state lives with the
backend: in memory for the local backend (:class:`LocalJobRunner`), in the Serve application's
object store for the http backend, so a job can be followed from any process that knows its id.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from stylecloak.errors import (
    JobCancelledError,
    JobNotFoundError,
    JobNotReadyError,
    RemoteTimeoutError,
    StylecloakError,
)
from stylecloak.images import ImageInput
from stylecloak.result import CloakResult, ProgressCallback
from stylecloak.wire import JobStatus, finished_error

Call = TypeVar("Call")

# Polling starts fast (small jobs finish in a second) and slows down for long ones.
POLL_FIRST_S = 0.1
POLL_MAX_S = 1.0
# Finished local jobs kept in memory (with their results) before the oldest are forgotten.
KEEP_LOCAL_JOBS = 256


class SyncJobs(Protocol):
    def job_status(self, job_id: str) -> JobStatus: ...
    def job_result(self, job_id: str) -> CloakResult: ...
    def job_cancel(self, job_id: str) -> JobStatus: ...


class AsyncJobs(Protocol):
    async def job_status(self, job_id: str) -> JobStatus: ...
    async def job_result(self, job_id: str) -> CloakResult: ...
    async def job_cancel(self, job_id: str) -> JobStatus: ...


def poll_intervals() -> Iterator[float]:
    delay = POLL_FIRST_S
    while True:
        yield delay
        delay = min(POLL_MAX_S, delay * 1.5)


class _Following:
    """Progress reporting and the deadline while waiting for one job (shared by both handles)."""

    def __init__(self, job_id: str, timeout: float | None, progress: ProgressCallback | None) -> None:
        self.job_id = job_id
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.progress = progress
        self.last: tuple[int, int] | None = None
        self.intervals = poll_intervals()

    def seen(self, status: JobStatus) -> None:
        point = (status.total, status.total) if status.state == "succeeded" else (status.done, status.total)
        if self.progress is not None and point != self.last and point[1] > 0:
            self.progress(*point)
        self.last = point

    def next_sleep(self) -> float:
        delay = next(self.intervals)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RemoteTimeoutError(f"job {self.job_id} did not finish in time")
            delay = min(delay, left)
        return delay


class Job:
    """A submitted cloak. ``status()`` asks once; ``wait()``/``result()`` poll until it finishes."""

    def __init__(self, backend: SyncJobs, job_id: str) -> None:
        self.backend = backend
        self.id = job_id

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    def status(self) -> JobStatus:
        return self.backend.job_status(self.id)

    def wait(self, timeout: float | None = None, progress: ProgressCallback | None = None) -> JobStatus:
        """Poll until the job finishes; ``progress(done, total)`` on every change. Raises on timeout."""
        following = _Following(self.id, timeout, progress)
        while True:
            status = self.status()
            following.seen(status)
            if status.finished:
                return status
            time.sleep(following.next_sleep())

    def result(self, timeout: float | None = None, progress: ProgressCallback | None = None) -> CloakResult:
        """Wait, then the cloaked image; ``JobFailedError``/``JobCancelledError`` if there is none."""
        status = self.wait(timeout, progress)
        if status.state != "succeeded":
            raise finished_error(status)
        return self.backend.job_result(self.id)

    def cancel(self) -> JobStatus:
        """Stop the job (it ends ``cancelled``) or, once finished, delete its stored result."""
        return self.backend.job_cancel(self.id)


class AsyncJob:
    """:class:`Job` for :class:`~stylecloak.client.AsyncClient`: the same methods, awaited."""

    def __init__(self, backend: AsyncJobs, job_id: str) -> None:
        self.backend = backend
        self.id = job_id

    def __repr__(self) -> str:
        return f"AsyncJob({self.id!r})"

    async def status(self) -> JobStatus:
        return await self.backend.job_status(self.id)

    async def wait(self, timeout: float | None = None, progress: ProgressCallback | None = None) -> JobStatus:
        following = _Following(self.id, timeout, progress)
        while True:
            status = await self.status()
            following.seen(status)
            if status.finished:
                return status
            await asyncio.sleep(following.next_sleep())

    async def result(self, timeout: float | None = None, progress: ProgressCallback | None = None) -> CloakResult:
        status = await self.wait(timeout, progress)
        if status.state != "succeeded":
            raise finished_error(status)
        return await self.backend.job_result(self.id)

    async def cancel(self) -> JobStatus:
        return await self.backend.job_cancel(self.id)


@dataclass
class _LocalJob:
    id: str
    created_at: float
    state: str = "queued"
    done: int = 0
    total: int = 0
    updated_at: float = 0.0
    result: CloakResult | None = None
    error: StylecloakError | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def status(self) -> JobStatus:
        return JobStatus(
            id=self.id,
            state=self.state,  # type: ignore[arg-type]
            done=self.done,
            total=self.total,
            attempts=1 if self.state != "queued" else 0,
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
            error=self.error.to_dict() if self.error is not None and self.state == "failed" else None,
        )


class LocalJobRunner(Generic[Call]):
    """Jobs for the local backend: one background thread runs them in order (a cloak uses every core).
    ``run(image, progress, call)`` does one; ``call`` is whatever the backend describes a call with."""

    def __init__(self, run: Callable[[ImageInput, ProgressCallback, Call], CloakResult]) -> None:
        self._run = run
        self._jobs: dict[str, _LocalJob] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, image: ImageInput, call: Call) -> JobStatus:
        job = _LocalJob(id=uuid.uuid4().hex, created_at=time.time())
        with self._lock:
            self._forget_oldest()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylecloak-job")
            self._jobs[job.id] = job
            self._pool.submit(self._execute, job, image, call)
        return job.status()

    def _forget_oldest(self) -> None:
        finished = [job for job in self._jobs.values() if job.state in ("succeeded", "failed", "cancelled")]
        for job in sorted(finished, key=lambda item: item.updated_at)[: max(0, len(self._jobs) - KEEP_LOCAL_JOBS)]:
            del self._jobs[job.id]

    def _execute(self, job: _LocalJob, image: ImageInput, call: Call) -> None:
        if job.cancelled.is_set():
            return
        job.state, job.updated_at = "running", time.time()

        def progress(done: int, total: int) -> None:
            if job.cancelled.is_set():
                raise JobCancelledError(f"job {job.id} was cancelled")
            job.done, job.total, job.updated_at = done, total, time.time()

        try:
            result = self._run(image, progress, call)
        except StylecloakError as exc:
            job.error = exc
            job.state = "cancelled" if job.cancelled.is_set() else "failed"
        except Exception as exc:  # a bug must end the job, not leave it running forever
            job.error = StylecloakError(f"the cloak crashed: {type(exc).__name__}: {exc}")
            job.state = "failed"
        else:
            if job.cancelled.is_set():
                job.state = "cancelled"
            else:
                job.result, job.state = result, "succeeded"
        job.updated_at = time.time()

    def _get(self, job_id: str) -> _LocalJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        return job

    def status(self, job_id: str) -> JobStatus:
        return self._get(job_id).status()

    def result(self, job_id: str) -> CloakResult:
        job = self._get(job_id)
        if job.state == "succeeded" and job.result is not None:
            return job.result
        if job.state in ("failed", "cancelled"):
            raise finished_error(job.status())
        raise JobNotReadyError(f"job {job_id} is {job.state}")

    def cancel(self, job_id: str) -> JobStatus:
        job = self._get(job_id)
        job.cancelled.set()  # a running cloak stops at its next optimisation step
        job.result = None
        job.state, job.updated_at = "cancelled", time.time()
        return job.status()

    def close(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.cancelled.set()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
