"""The ``http`` backend: a stylecloak Serve endpoint, through httpx (the ``client`` extra).

:class:`HttpProtocol` holds everything without I/O — building requests, reading responses, deciding
retries, and translating HTTP failures into :mod:`stylecloak.errors` (:func:`error_from_response`
and :func:`error_from_transport` are the one place that happens). :class:`HttpBackend` and
:class:`AsyncHttpBackend` only add the sending loop, so the two stay twins.

Retries: 503 and 429 answers and connection failures are retried up to ``settings.retries`` times,
honouring ``Retry-After`` (else exponential backoff with jitter). Only requests the server never
accepted are retried, so a retry never runs a cloak twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import random
import time
from typing import Any
from urllib.parse import quote

from stylecloak._version import __version__
from stylecloak.client.backend import ClientStats, CloakCall
from stylecloak.errors import (
    ImageError,
    ImageTooLargeError,
    InvalidImageError,
    MissingExtraError,
    OverloadedError,
    RemoteTimeoutError,
    ServerError,
    StylecloakError,
    UnauthorizedError,
)
from stylecloak.images import CONTENT_TYPES, ImageInput, read_bytes
from stylecloak.result import CloakResult, ProgressCallback
from stylecloak.settings import ClientSettings
from stylecloak.wire import (
    CLOAK_PATH,
    JOBS_PATH,
    REPORT_HEADER,
    CloakOptions,
    JobStatus,
    decode_report,
    error_from_dict,
)

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised where the extra is absent
    raise MissingExtraError("httpx", "client") from exc

AnyHttpx = httpx.Client | httpx.AsyncClient
RETRY_STATUSES = frozenset({429, 503})
BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 8.0
# A server asking for a longer pause than this is treated as if it had asked for this.
RETRY_AFTER_MAX_S = 60.0
CONNECT_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 32

# Transport failures after which the request certainly never reached the application.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def error_from_response(response: httpx.Response) -> StylecloakError:
    """The typed error for a failed HTTP answer (the one place HTTP statuses become exceptions)."""
    status = response.status_code
    body: dict[str, Any] = {}
    try:
        parsed = json.loads(response.content)
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    text = str(body.get("message") or response.text[:200] or response.reason_phrase)
    if status in (401, 403):
        return UnauthorizedError(text, detail=f"HTTP {status}")
    if status == 413:
        return ImageTooLargeError(text)
    if status in RETRY_STATUSES:
        return OverloadedError(f"the endpoint is overloaded: {text}", detail=f"HTTP {status}")
    if status in (408, 504):
        return RemoteTimeoutError(f"the endpoint timed out: {text}", detail=f"HTTP {status}")
    if "error" in body:
        return error_from_dict(body, status)
    if status in (400, 415, 422):
        # A 4xx about the upload without our JSON body (e.g. a proxy's): still an image error.
        return InvalidImageError(text) if status == 400 else ImageError(text)
    return ServerError(f"the endpoint answered {status}: {text}", detail=f"HTTP {status}")


def error_from_transport(exc: httpx.HTTPError, endpoint: str) -> StylecloakError:
    if isinstance(exc, httpx.TimeoutException):
        return RemoteTimeoutError(f"no answer from {endpoint} in time ({type(exc).__name__})")
    return ServerError(f"cannot reach {endpoint}: {exc or type(exc).__name__}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def image_bytes(image: ImageInput, max_bytes: int) -> bytes:
    """The encoded bytes to upload; a PIL image is sent in its own format (PNG when it has none)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        fmt = image.format if image.format in ("JPEG", "PNG", "WEBP", "TIFF") else "PNG"
        image.save(buffer, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}))
        data = buffer.getvalue()
        if len(data) > max_bytes:
            raise ImageTooLargeError(f"the image is over the limit of {max_bytes} bytes")
        return data
    return read_bytes(image, max_bytes)


class HttpProtocol:
    """Requests, responses and retry decisions of the Serve API, without I/O."""

    def __init__(self, settings: ClientSettings) -> None:
        self.endpoint = settings.endpoint.rstrip("/")
        self.retries = settings.retries
        self.max_bytes = settings.max_bytes
        headers = {"User-Agent": f"stylecloak/{__version__}"}
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        self.client_options: dict[str, Any] = {
            "base_url": self.endpoint,
            "headers": headers,
            "timeout": httpx.Timeout(settings.timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.timeout_s)),
            "limits": httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        }

    # ------------------------------------------------------------------ requests

    def upload(self, http: AnyHttpx, path: str, image: ImageInput, options: CloakOptions) -> httpx.Request:
        data = image_bytes(image, self.max_bytes)
        headers = {"Content-Type": "application/octet-stream"}
        return http.build_request("POST", path, params=options.to_query(), content=data, headers=headers)

    def cloak(self, http: AnyHttpx, image: ImageInput, options: CloakOptions) -> httpx.Request:
        return self.upload(http, CLOAK_PATH, image, options)

    def submit(self, http: AnyHttpx, image: ImageInput, options: CloakOptions) -> httpx.Request:
        return self.upload(http, JOBS_PATH, image, options)

    def job(self, http: AnyHttpx, method: str, job_id: str, suffix: str = "") -> httpx.Request:
        return http.build_request(method, f"{JOBS_PATH}/{quote(job_id, safe='')}{suffix}")

    # ------------------------------------------------------------------ responses

    def result(self, response: httpx.Response) -> CloakResult:
        report = response.headers.get(REPORT_HEADER)
        if report is None:
            raise ServerError(f"the endpoint's answer has no {REPORT_HEADER} header")
        try:
            parsed = decode_report(report)
        except ValueError as exc:
            raise ServerError("the endpoint sent a report that cannot be read") from exc
        content_type = response.headers.get("Content-Type", "application/octet-stream").split(";")[0]
        return CloakResult(
            data=response.content, content_type=content_type, format=_format(content_type), report=parsed
        )

    def status(self, response: httpx.Response) -> JobStatus:
        try:
            return JobStatus.model_validate_json(response.content)
        except ValueError as exc:
            raise ServerError("the endpoint sent a job status that cannot be read") from exc

    # ------------------------------------------------------------------ retries

    def checked(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def response_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this answer, or None to keep it."""
        if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
            return None
        asked = parse_retry_after(response.headers.get("Retry-After"))
        if asked is not None:
            # Honour the server's pause, spread a little so a burst does not come back at once.
            return min(asked, RETRY_AFTER_MAX_S) * random.uniform(1.0, 1.25)
        return self.backoff(attempt)

    def transport_delay(self, exc: httpx.HTTPError, attempt: int) -> float:
        """Seconds to wait before retrying after a transport failure; raises when it must not be retried."""
        if isinstance(exc, _UNSENT) and attempt < self.retries:
            return self.backoff(attempt)
        raise error_from_transport(exc, self.endpoint) from exc

    @staticmethod
    def backoff(attempt: int) -> float:
        return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)


class HttpBackend:
    """Blocking calls to a Serve endpoint over a pooled :class:`httpx.Client`."""

    remote = True

    def __init__(self, settings: ClientSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.protocol = HttpProtocol(settings)
        self.http = httpx.Client(**self.protocol.client_options, transport=transport)
        self.stats = ClientStats()

    def send(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            self.stats.requests += 1
            try:
                response = self.http.send(request)
            except httpx.HTTPError as exc:
                delay = self.protocol.transport_delay(exc, attempt)
            else:
                retry_in = self.protocol.response_delay(response, attempt)
                if retry_in is None:
                    return self.protocol.checked(response)
                response.close()
                delay = retry_in
            attempt += 1
            self.stats.retries += 1
            time.sleep(delay)

    def cloak(self, image: ImageInput, call: CloakCall, progress: ProgressCallback | None = None) -> CloakResult:
        # The sync endpoint reports no progress; the client turns a call with a callback into a job.
        return self.protocol.result(self.send(self.protocol.cloak(self.http, image, call.remote())))

    def submit(self, image: ImageInput, call: CloakCall) -> JobStatus:
        return self.protocol.status(self.send(self.protocol.submit(self.http, image, call.remote())))

    def job_status(self, job_id: str) -> JobStatus:
        return self.protocol.status(self.send(self.protocol.job(self.http, "GET", job_id)))

    def job_result(self, job_id: str) -> CloakResult:
        return self.protocol.result(self.send(self.protocol.job(self.http, "GET", job_id, "/result")))

    def job_cancel(self, job_id: str) -> JobStatus:
        return self.protocol.status(self.send(self.protocol.job(self.http, "DELETE", job_id)))

    def close(self) -> None:
        self.http.close()


class AsyncHttpBackend:
    """The same calls as :class:`HttpBackend`, awaited, over a pooled :class:`httpx.AsyncClient`."""

    remote = True

    def __init__(self, settings: ClientSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.protocol = HttpProtocol(settings)
        self.http = httpx.AsyncClient(**self.protocol.client_options, transport=transport)
        self.stats = ClientStats()

    async def send(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            self.stats.requests += 1
            try:
                response = await self.http.send(request)
            except httpx.HTTPError as exc:
                delay = self.protocol.transport_delay(exc, attempt)
            else:
                retry_in = self.protocol.response_delay(response, attempt)
                if retry_in is None:
                    return self.protocol.checked(response)
                await response.aclose()
                delay = retry_in
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(delay)

    async def cloak(self, image: ImageInput, call: CloakCall, progress: ProgressCallback | None = None) -> CloakResult:
        return self.protocol.result(await self.send(self.protocol.cloak(self.http, image, call.remote())))

    async def submit(self, image: ImageInput, call: CloakCall) -> JobStatus:
        return self.protocol.status(await self.send(self.protocol.submit(self.http, image, call.remote())))

    async def job_status(self, job_id: str) -> JobStatus:
        return self.protocol.status(await self.send(self.protocol.job(self.http, "GET", job_id)))

    async def job_result(self, job_id: str) -> CloakResult:
        return self.protocol.result(await self.send(self.protocol.job(self.http, "GET", job_id, "/result")))

    async def job_cancel(self, job_id: str) -> JobStatus:
        return self.protocol.status(await self.send(self.protocol.job(self.http, "DELETE", job_id)))

    async def close(self) -> None:
        await self.http.aclose()


def _format(content_type: str) -> str:
    for fmt, known in CONTENT_TYPES.items():
        if known == content_type:
            return fmt
    return content_type.rpartition("/")[2].upper()
