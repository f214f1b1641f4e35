"""The HTTP protocol between :mod:`stylecloak.http_backend` and the Serve application, in one place.

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

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from stylecloak import bounds
from stylecloak.errors import ERRORS_BY_CODE, ConfigurationError, RemoteError, ServerError, StylecloakError
from stylecloak.result import CloakReport

API_VERSION = "v1"
CLOAK_PATH = "/v1/cloak"
JOBS_PATH = "/v1/jobs"
HEALTH_PATH = "/healthz"

REPORT_HEADER = "X-Stylecloak-Report"
JOB_HEADER = "X-Stylecloak-Job"
#: The multipart field that carries the image when a request is ``multipart/form-data``.
IMAGE_FIELD = "image"

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

#: Engine overrides (``CloakParams`` numbers) a remote caller may set; the server caps ``steps``.
REMOTE_OVERRIDES = ("steps", "seed", "linf", "budget_p", "alpha", "lr")
# RightsPolicy fields that name signing credentials; never sent, never accepted from a caller.
SIGNING_PREFIX = "c2pa_"


class JobNotFoundError(RemoteError):  # type: ignore[misc]  # mypy sees stylecloak.* as Any here
    """No job with this id (never submitted, deleted, or expired from the store)."""

    code = "job_not_found"
    status = 404


class JobNotReadyError(RemoteError):  # type: ignore[misc]
    """The job's result was asked for before the job succeeded."""

    code = "job_not_ready"
    status = 409


#: Every error code either side may send, including the ones only the remote protocol has.
ERRORS: dict[str, type[StylecloakError]] = {
    **ERRORS_BY_CODE,
    JobNotFoundError.code: JobNotFoundError,
    JobNotReadyError.code: JobNotReadyError,
}


class CloakOptions(BaseModel):
    """Everything a remote caller can choose about one cloak. Unknown options are refused."""

    # No inf or NaN anywhere; each number bounded as stylecloak.bounds says (presets.resolve checks again).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    artist_id: str | None = Field(default=None, max_length=256)
    intensity: Literal["low", "default", "high"] | None = None
    quality: Literal["fast", "default", "slow"] | None = None
    target_style: str | None = Field(default=None, max_length=256)
    force: bool = False
    steps: int | None = Field(default=None, ge=1, le=bounds.MAX_STEPS)
    seed: int | None = Field(default=None, ge=0, le=bounds.MAX_SEED)
    linf: float | None = Field(default=None, gt=0, le=1)
    budget_p: float | None = Field(default=None, gt=0, le=1)
    alpha: float | None = Field(default=None, gt=0, le=bounds.MAX_ALPHA)
    lr: float | None = Field(default=None, gt=0, le=bounds.MAX_LR)
    rights: dict[str, Any] | None = Field(
        default=None,
        description="A stylecloak.rights.RightsPolicy as JSON, without its c2pa_* fields: the server signs "
        "with its own credentials (STYLECLOAK_RIGHTS_C2PA_*).",
    )

    @classmethod
    def build(cls, **values: Any) -> CloakOptions:
        """Options from keyword arguments, with a typed error naming what is wrong."""
        rights = values.get("rights")
        if rights is not None and hasattr(rights, "model_dump"):
            values["rights"] = rights.model_dump(mode="json", exclude_none=True)
        if isinstance(values.get("rights"), dict):
            values["rights"] = public_rights(values["rights"])
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid cloak options: {_summary(exc)}") from exc

    def to_query(self) -> dict[str, str]:
        """Query parameters for these options (only the ones set)."""
        query: dict[str, str] = {}
        for key, value in self.model_dump(exclude_defaults=True).items():
            if key == "rights":
                query[key] = json.dumps(value, separators=(",", ":"), sort_keys=True)
            elif isinstance(value, bool):
                query[key] = "true" if value else "false"
            else:
                query[key] = str(value)
        return query

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> CloakOptions:
        values: dict[str, Any] = dict(params)
        if "rights" in values:
            try:
                values["rights"] = json.loads(values["rights"])
            except ValueError as exc:
                raise ConfigurationError("the rights option must be a JSON object") from exc
        return cls.build(**values)

    def overrides(self) -> dict[str, Any]:
        """The engine overrides (``steps``, ``seed`` …) that were set, plus ``force``."""
        values: dict[str, Any] = {key: getattr(self, key) for key in REMOTE_OVERRIDES if getattr(self, key) is not None}
        if self.force:
            values["force"] = True
        return values


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


def public_rights(policy: Mapping[str, Any]) -> dict[str, Any]:
    """A rights policy without its signing fields: C2PA credentials stay on the server that signs."""
    return {key: value for key, value in policy.items() if not key.startswith(SIGNING_PREFIX)}


def encode_report(report: CloakReport) -> str:
    """The report as a header value: compact JSON, ASCII only (headers are Latin-1)."""
    return json.dumps(report.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=True)


def decode_report(value: str) -> CloakReport:
    return CloakReport.model_validate_json(value)


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(item) for item in error["loc"]) or "options"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
