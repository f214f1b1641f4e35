"""The versioned HTTP API (FastAPI) over a :class:`~stylecloak.serve.gateway.Gateway`.

Routes, their OpenAPI description, bearer auth and the one error handler live here; what each
route does lives in the gateway. The same app runs inside the Ray Serve ingress and, without Ray,
under any ASGI server (:mod:`stylecloak.serve.local`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from stylecloak._version import __version__
from stylecloak.errors import ConfigurationError, OverloadedError, ServerError, StylecloakError, UnauthorizedError
from stylecloak.wire import API_VERSION, HEALTH_PATH, IMAGE_FIELD, REPORT_HEADER, CloakOptions, JobStatus

from .gateway import Gateway

DESCRIPTION = """Style cloaks (the Glaze method) as a service.

Send an image as the raw request body (any `Content-Type`) or as the multipart file field
`image`; options go in the query string. The cloaked image comes back in the input's format, with
the cloak's report as JSON in the `X-Stylecloak-Report` header. Errors are JSON:
`{"error": code, "message": …, "status": …}`. A 503 carries `Retry-After`.
"""


# Module-level: FastAPI resolves these annotations in the module's namespace.
BEARER = HTTPBearer(auto_error=False, description="A token from STYLECLOAK_TOKEN or the tokens file.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


class ErrorBody(BaseModel):
    error: str
    message: str
    status: int
    detail: str | None = None


class Health(BaseModel):
    status: str
    version: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Not an image, a truncated one, or bad options",
        401: "Missing or invalid bearer token",
        404: "No such job",
        409: "Already cloaked (use force=true), or the job is not finished",
        413: "Over the request or image size limit",
        415: "An image format or kind that is refused (animated…)",
        422: "Image under the minimum size",
        503: "Queues full (see Retry-After), or a worker was lost",
        504: "The cloak took longer than the request timeout",
    }
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}


def _query_parameters() -> list[dict[str, Any]]:
    schema = CloakOptions.model_json_schema()["properties"]
    parameters = []
    for name, field in CloakOptions.model_fields.items():
        if name == "rights":
            field_schema: dict[str, Any] = {"type": "string", "description": "JSON object: a RightsPolicy."}
        else:
            field_schema = {key: value for key, value in schema[name].items() if key != "title"}
        parameters.append(
            {"name": name, "in": "query", "required": False, "schema": field_schema, "description": field.description}
        )
    return parameters


_UPLOAD = {
    "parameters": _query_parameters(),
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {IMAGE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [IMAGE_FIELD],
                }
            },
        },
    },
}

_IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The cloaked image, in the input's format.",
        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            REPORT_HEADER: {"description": "The CloakReport as JSON.", "schema": {"type": "string"}},
            "X-Robots-Tag": {"description": "With rights=: the opt-out directives.", "schema": {"type": "string"}},
        },
    }
}


def json_error(exc: StylecloakError) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def create_api(gateway: Gateway) -> FastAPI:
    api = FastAPI(title="stylecloak", version=__version__, description=DESCRIPTION)
    retry_after = str(gateway.config.retry_after_s)

    async def handle_error(request: Request, exc: Exception) -> Response:
        error = exc if isinstance(exc, StylecloakError) else ServerError("internal error", detail=type(exc).__name__)
        response = json_error(error)
        if isinstance(error, OverloadedError) or error.status == 503:
            response.headers["Retry-After"] = retry_after
        return response

    async def handle_invalid(request: Request, exc: Exception) -> Response:
        errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors)
        return json_error(ConfigurationError(f"invalid request: {where or exc}"))

    async def handle_http(request: Request, exc: Exception) -> Response:
        status = int(getattr(exc, "status_code", 500))
        body = {"error": "not_found" if status == 404 else "http_error", "message": str(getattr(exc, "detail", exc))}
        return JSONResponse({**body, "status": status}, status_code=status, headers=getattr(exc, "headers", None))

    api.add_exception_handler(RequestValidationError, handle_invalid)
    api.add_exception_handler(StarletteHTTPException, handle_http)
    api.add_exception_handler(StylecloakError, handle_error)
    api.add_exception_handler(Exception, handle_error)

    async def authorized(request: Request, credentials: Credentials) -> None:
        # ``credentials`` only documents the scheme in OpenAPI; the check reads the header itself.
        try:
            gateway.auth.check(request.headers.get("authorization"))
        except UnauthorizedError as exc:
            gateway.metrics.request("auth", exc.code)
            raise

    v1 = APIRouter(prefix=f"/{API_VERSION}", dependencies=[Depends(authorized)])

    @v1.post(
        "/cloak",
        summary="Cloak an image and wait for it",
        response_class=Response,
        responses={**_IMAGE_RESPONSE, **_errors(400, 401, 409, 413, 415, 422, 503, 504)},
        openapi_extra=_UPLOAD,
    )
    async def cloak(request: Request) -> Response:
        return await gateway.observe("cloak", gateway.cloak(request))

    @v1.post(
        "/jobs",
        summary="Start an async cloak job (large images)",
        status_code=202,
        response_model=JobStatus,
        responses=_errors(400, 401, 409, 413, 415, 422, 503),
        openapi_extra=_UPLOAD,
    )
    async def submit(request: Request) -> JSONResponse:
        status, location = await gateway.observe("submit", gateway.submit(request))
        return JSONResponse(status.model_dump(mode="json"), status_code=202, headers={"Location": location})

    @v1.get(
        "/jobs/{job_id}", summary="A job's state and progress", response_model=JobStatus, responses=_errors(401, 404)
    )
    async def job_status(job_id: str) -> JobStatus:
        return await gateway.observe("status", gateway.job_status(job_id))

    @v1.get(
        "/jobs/{job_id}/result",
        summary="The cloaked image of a finished job",
        response_class=Response,
        responses={**_IMAGE_RESPONSE, **_errors(401, 404, 409), 500: {"model": ErrorBody, "description": "Job failed"}},
    )
    async def job_result(job_id: str) -> Response:
        return await gateway.observe("result", gateway.job_result(job_id))

    @v1.delete(
        "/jobs/{job_id}",
        summary="Cancel a job, or delete a finished job's result",
        response_model=JobStatus,
        responses=_errors(401, 404),
    )
    async def job_cancel(job_id: str) -> JobStatus:
        return await gateway.observe("cancel", gateway.job_cancel(job_id))

    api.include_router(v1)

    @api.get(HEALTH_PATH, summary="Liveness (no token needed)", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", version=__version__)

    return api
