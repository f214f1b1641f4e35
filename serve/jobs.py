"""Async jobs kept in the object store, so that any replica can answer for any job.

A job is a handful of objects under ``jobs/<id>/``, each written by one party, so concurrent
writers never overwrite each other's facts:

    job.json       the request (options, input hash and size)       ingress, once, at submit
    input          the uploaded bytes                                ingress, once, at submit
    attempts       how many times it was dispatched to a worker      ingress (the one driving it)
    heartbeat      "still waiting on a worker" timestamps            ingress (the one driving it)
    progress.json  steps done / total                                worker
    result, result.json  the cloaked bytes and their report          worker, before outcome.json
    outcome.json   succeeded, or failed with the error body          worker (or ingress on a lost worker)
    cancel         the caller cancelled or deleted it                ingress; wins over everything

The state is derived from which objects exist. A job whose heartbeat and progress have both gone
quiet for ``stale_s`` lost its driver (an ingress restart): the next status read resumes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from stylecloak.errors import JobNotFoundError, JobNotReadyError, ServerError, StylecloakError
from stylecloak.options import CloakOptions
from stylecloak.result import CloakResult
from stylecloak.wire import JobStatus, encode_report, error_from_dict, finished_error

from .store import ObjectStore

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class JobRecord(BaseModel):
    """What was asked for; written once at submit."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: float
    options: CloakOptions
    input_sha256: str
    input_bytes: int
    size: tuple[int, int]


@dataclass(frozen=True)
class StoredResult:
    data: bytes
    content_type: str
    report: str
    options: CloakOptions


class JobBoard:
    """Reads and writes jobs in an :class:`~stylecloak.serve.store.ObjectStore` (blocking calls)."""

    def __init__(self, store: ObjectStore, *, stale_s: float = 60.0) -> None:
        self.store = store
        self.stale_s = stale_s

    # ------------------------------------------------------------------ keys

    @staticmethod
    def key(job_id: str, name: str) -> str:
        if not _JOB_ID.fullmatch(job_id):  # not match: "$" also matches before a trailing newline
            raise JobNotFoundError(f"no job {job_id!r}")
        return f"jobs/{job_id}/{name}"

    def _get_json(self, job_id: str, name: str) -> dict[str, Any] | None:
        raw = self.store.get(self.key(job_id, name))
        if raw is None:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    def _put_json(self, job_id: str, name: str, value: dict[str, Any]) -> None:
        self.store.put(self.key(job_id, name), json.dumps(value, separators=(",", ":")).encode())

    # ------------------------------------------------------------------ ingress side

    def create(self, data: bytes, options: CloakOptions, size: tuple[int, int]) -> JobRecord:
        record = JobRecord(
            id=uuid.uuid4().hex,
            created_at=time.time(),
            options=options,
            input_sha256=hashlib.sha256(data).hexdigest(),
            input_bytes=len(data),
            size=size,
        )
        # Input first: a job.json that exists always has its input.
        self.store.put(self.key(record.id, "input"), data)
        self.store.put(self.key(record.id, "job.json"), record.model_dump_json().encode())
        return record

    def record(self, job_id: str) -> JobRecord:
        raw = self.store.get(self.key(job_id, "job.json"))
        if raw is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        return JobRecord.model_validate_json(raw)

    def attempts(self, job_id: str) -> int:
        raw = self.store.get(self.key(job_id, "attempts"))
        return int(raw) if raw else 0

    def begin_attempt(self, job_id: str) -> int:
        attempt = self.attempts(job_id) + 1
        self.store.put(self.key(job_id, "attempts"), str(attempt).encode())
        self.heartbeat(job_id)
        return attempt

    def heartbeat(self, job_id: str) -> None:
        self.store.put(self.key(job_id, "heartbeat"), repr(time.time()).encode())

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job that is still running, or delete the result of a finished one."""
        self.record(job_id)
        self.store.put(self.key(job_id, "cancel"), repr(time.time()).encode())
        self.store.delete([self.key(job_id, "input"), self.key(job_id, "result")])
        return self.status(job_id)

    def status(self, job_id: str) -> JobStatus:
        record = self.record(job_id)
        cancelled = self.store.get(self.key(job_id, "cancel"))
        outcome = self._get_json(job_id, "outcome.json")
        progress = self._get_json(job_id, "progress.json") or {}
        heartbeat = self.store.get(self.key(job_id, "heartbeat"))
        attempts = self.attempts(job_id)
        times = [record.created_at, float(progress.get("at", 0.0)), float(heartbeat or 0.0)]
        error = None
        if cancelled is not None:
            state = "cancelled"
            times.append(float(cancelled))
        elif outcome is not None:
            state = str(outcome["state"])
            error = outcome.get("error")
            times.append(float(outcome.get("at", 0.0)))
        else:
            state = "running" if progress else "queued"
        total = int(progress.get("total", 0))
        return JobStatus(
            id=job_id,
            state=state,  # type: ignore[arg-type]  # a JobState, checked by pydantic
            done=total if state == "succeeded" else int(progress.get("done", 0)),
            total=total,
            attempts=attempts,
            created_at=record.created_at,
            updated_at=max(times),
            error=error,
        )

    def is_stale(self, status: JobStatus, now: float | None = None) -> bool:
        return not status.finished and (now or time.time()) - status.updated_at > self.stale_s

    def result(self, job_id: str) -> StoredResult:
        status = self.status(job_id)
        if status.state in ("failed", "cancelled"):
            raise finished_error(status)
        if status.state != "succeeded":
            raise JobNotReadyError(f"job {job_id} is {status.state}; poll its status until it succeeds")
        record = self.record(job_id)
        meta = self._get_json(job_id, "result.json")
        data = self.store.get(self.key(job_id, "result"))
        if meta is None or data is None:
            raise ServerError(f"job {job_id} succeeded but its result is gone from the store")
        # The result must be the cloak of this job's own upload, or nothing at all.
        if meta.get("input_sha256") != record.input_sha256 or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ServerError(f"job {job_id}: the stored result does not match its upload")
        return StoredResult(data, str(meta["content_type"]), str(meta["report"]), record.options)

    # ------------------------------------------------------------------ worker side

    def input(self, job_id: str) -> tuple[JobRecord, bytes]:
        record = self.record(job_id)
        data = self.store.get(self.key(job_id, "input"))
        if data is None:
            raise JobNotFoundError(f"job {job_id} has no input (cancelled or deleted)")
        if hashlib.sha256(data).hexdigest() != record.input_sha256:
            raise ServerError(f"job {job_id}: the stored upload does not match its hash")
        return record, data

    def cancelled(self, job_id: str) -> bool:
        return self.store.get(self.key(job_id, "cancel")) is not None

    def progress(self, job_id: str, done: int, total: int) -> None:
        self._put_json(job_id, "progress.json", {"done": done, "total": total, "at": time.time()})

    def succeed(self, job_id: str, input_sha256: str, result: CloakResult) -> None:
        meta = {
            "content_type": result.content_type,
            "format": result.format,
            "report": encode_report(result.report),
            "input_sha256": input_sha256,
            "sha256": hashlib.sha256(result.data).hexdigest(),
        }
        self.store.put(self.key(job_id, "result"), result.data)
        self._put_json(job_id, "result.json", meta)
        self._put_json(job_id, "outcome.json", {"state": "succeeded", "at": time.time()})

    def fail(self, job_id: str, error: StylecloakError) -> None:
        self._put_json(job_id, "outcome.json", {"state": "failed", "error": error.to_dict(), "at": time.time()})

    def outcome_error(self, job_id: str) -> StylecloakError | None:
        outcome = self._get_json(job_id, "outcome.json")
        if outcome is None or outcome.get("state") != "failed":
            return None
        return error_from_dict(outcome.get("error") or {})
