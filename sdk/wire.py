"""The HTTP protocol between :mod:`stylecloak.client.http` and the Serve application, in one place.

Both sides import these names, so a route, a header or an option cannot drift between client and
server. Nothing here does I/O or imports an optional dependency.

    POST   /v1/cloak              image bytes (or multipart field ``image``) → cloaked bytes
    POST   /v1/jobs               same input → 202 and a :class:`JobStatus`
    GET    /v1/jobs/{id}          → :class:`JobStatus` (state and progress)
    GET    /v1/jobs/{id}/result   → cloaked bytes once the job succeeded
    DELETE /v1/jobs/{id}          → cancel (or delete the result of) a job
    GET    /healthz               → ``{"status": "ok"}``, no token needed

Cloak options travel as query parameters (:meth:`CloakOptions.to_query`); the report comes back
as JSON in the :data:`REPORT_HEADER` response header. Errors are ``StylecloakError.to_dict()``
bodies with the error's HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from stylecloak.errors import (
    ERRORS_BY_CODE,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobNotReadyError,
    ServerError,
    StylecloakError,
)
from stylecloak.options import REMOTE_OVERRIDES, SIGNING_PREFIX, CloakOptions, public_rights
from stylecloak.result import CloakReport

API_VERSION = "v1"
CLOAK_PATH = "/v1/cloak"
JOBS_PATH = "/v1/jobs"
HEALTH_PATH = "/healthz"

REPORT_HEADER = "X-Stylecloak-Report"
JOB_HEADER = "X-Stylecloak-Job"
#: The multipart field that carries the image when a request is ``multipart/form-data``.
IMAGE_FIELD = "image"

__all__ = [
    "API_VERSION",
    "CLOAK_PATH",
    "ERRORS",
    "HEALTH_PATH",
    "IMAGE_FIELD",
    "JOBS_PATH",
    "JOB_HEADER",
    "REMOTE_OVERRIDES",
    "REPORT_HEADER",
    "SIGNING_PREFIX",
    "CloakOptions",
    "JobNotFoundError",
    "JobNotReadyError",
    "JobStatus",
    "decode_report",
    "encode_report",
    "error_from_dict",
    "public_rights",
]

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


#: Every error code either side may send (the whole table of stylecloak.errors).
ERRORS: dict[str, type[StylecloakError]] = ERRORS_BY_CODE


class JobStatus(BaseModel):
    """Where an async job stands. ``done``/``total`` count optimisation steps."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: JobState
    done: int = 0
    total: int = 0
    attempts: int = 0
    created_at: float
    updated_at: float
    error: dict[str, Any] | None = Field(default=None, description="The error body when the job failed.")

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def progress(self) -> float:
        """Fraction of the work done, 0 to 1 (1 once the job succeeded)."""
        if self.state == "succeeded":
            return 1.0
        return self.done / self.total if self.total else 0.0


def error_from_dict(body: Mapping[str, Any], status: int = 500) -> StylecloakError:
    """Rebuild the error a server reported as ``StylecloakError.to_dict()`` (unknown codes: ServerError)."""
    code = str(body.get("error", ""))
    message = str(body.get("message") or f"the server answered {status}")
    detail = body.get("detail")
    cls = ERRORS.get(code)
    if cls is None:
        return ServerError(message, detail=f"HTTP {status}, error code {code or 'none'}")
    return cls(message, detail=str(detail) if detail else None)


def encode_report(report: CloakReport) -> str:
    """The report as a header value: compact JSON, ASCII only (headers are Latin-1)."""
    return json.dumps(report.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=True)


def decode_report(value: str) -> CloakReport:
    return CloakReport.model_validate_json(value)


def finished_error(status: JobStatus) -> StylecloakError:
    """The error for a job that ended without a result (``failed`` or ``cancelled``)."""
    if status.state == "cancelled":
        return JobCancelledError(f"job {status.id} was cancelled")
    cause = error_from_dict(status.error, 500) if status.error else None
    message = cause.message if cause is not None else "unknown error"
    failed = JobFailedError(f"job {status.id} failed: {message}", detail=cause.code if cause else None)
    failed.__cause__ = cause
    return failed
