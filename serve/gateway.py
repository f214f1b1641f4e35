"""The ingress logic, free of Ray: auth, request limits, sync cloaks and async jobs over a dispatcher.

:class:`Gateway` reads uploads (with a hard size limit), checks them, and hands
:class:`~stylecloak.serve.worker.WorkItem` s to a :class:`Dispatcher` — a Ray
``DeploymentHandle`` in the Serve app (:mod:`stylecloak.serve.app`), the worker logic in a thread
in the Ray-free local app (:mod:`stylecloak.serve.local`). :mod:`stylecloak.serve.api` puts HTTP
routes on it. Every failure is a :class:`~stylecloak.errors.StylecloakError`, answered as its
``to_dict()`` body with its status.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol, TypeVar

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from stylecloak import images, marker
from stylecloak.errors import (
    AlreadyCloakedError,
    ConfigurationError,
    ImageTooLargeError,
    InvalidImageError,
    JobFailedError,
    OverloadedError,
    RemoteTimeoutError,
    RequestTimeoutError,
    ServerError,
    StylecloakError,
    WorkerLostError,
)
from stylecloak.wire import (
    IMAGE_FIELD,
    JOB_HEADER,
    JOBS_PATH,
    REPORT_HEADER,
    CloakOptions,
    JobStatus,
    public_rights,
)

from .auth import TokenAuth
from .config import AppConfig
from .jobs import JobBoard
from .metrics import Metrics, NullMetrics
from .store import open_store
from .worker import WorkItem, WorkResult

log = logging.getLogger(__name__)
T = TypeVar("T")


class Dispatcher(Protocol):
    async def __call__(self, item: WorkItem, timeout: float) -> WorkResult:
        """Run ``item`` on a worker. Raises OverloadedError (queues full), WorkerLostError, RemoteTimeoutError."""
        ...


class Gateway:
    def __init__(
        self,
        config: AppConfig,
        dispatch: Dispatcher,
        *,
        metrics: Metrics | None = None,
        board: JobBoard | None = None,
    ) -> None:
        self.config = config
        self.settings = config.engine_settings()
        self.auth = TokenAuth.from_config(config, self.settings)
        if board is None:
            board = JobBoard(open_store(config.store, endpoint_url=config.s3_endpoint_url), stale_s=config.job_stale_s)
        self.board = board
        self.dispatch = dispatch
        self.metrics: Metrics = metrics or NullMetrics()
        self._driving: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ requests

    async def observe(self, route: str, work: Awaitable[T]) -> T:
        """Await ``work``, counting the request by route and outcome."""
        try:
            result = await work
        except StylecloakError as exc:
            self.metrics.request(route, exc.code)
            raise
        except Exception:
            self.metrics.request(route, "server_error")
            raise
        self.metrics.request(route, "ok")
        return result

    async def read_upload(self, request: Request) -> bytes:
        """The image bytes of a raw or multipart body, refusing more than ``max_request_bytes``."""
        limit = self.config.max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ImageTooLargeError(f"the request is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self._timed(request):
            size += len(chunk)
            if size > limit:
                raise ImageTooLargeError(f"the request is over the limit of {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body = await self._multipart_image(request, body)
        if not body:
            raise InvalidImageError("the request carries no image")
        return body

    async def _timed(self, request: Request) -> AsyncIterator[bytes]:
        """The body's chunks, or a 408 once it stalls for ``body_idle_timeout_s`` or takes longer than
        ``body_timeout_s`` in all: a client trickling bytes must not hold a replica slot for ever."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.body_timeout_s
        chunks = request.stream().__aiter__()
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise RequestTimeoutError(f"the request body did not arrive within {self.config.body_timeout_s:g}s")
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), min(left, self.config.body_idle_timeout_s))
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise RequestTimeoutError(
                    f"the request body stalled (nothing for {min(left, self.config.body_idle_timeout_s):g}s)"
                ) from exc
            yield chunk

    async def _multipart_image(self, request: Request, body: bytes) -> bytes:
        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(
                max_files=1, max_fields=32, max_part_size=self.config.max_request_bytes
            )
        except Exception as exc:  # starlette raises MultiPartException or HTTPException(400)
            raise InvalidImageError(f"the multipart body cannot be read: {getattr(exc, 'detail', exc)}") from exc
        try:
            upload = form.get(IMAGE_FIELD)
            if not isinstance(upload, UploadFile):
                raise InvalidImageError(f"the multipart body has no file field {IMAGE_FIELD!r}")
            return await upload.read()
        finally:
            await form.close()

    def options(self, request: Request) -> CloakOptions:
        options = CloakOptions.from_query(request.query_params)
        if options.steps is not None and options.steps > self.config.max_steps:
            raise ConfigurationError(f"steps must be at most {self.config.max_steps} on this server")
        return options

    def image_response(
        self, data: bytes, content_type: str, report: str, options: CloakOptions, job: str = ""
    ) -> Response:
        headers = {REPORT_HEADER: report}
        if job:
            headers[JOB_HEADER] = job
        if options.rights is not None:
            headers.update(rights_headers(options.rights))
        return Response(content=data, media_type=content_type, headers=headers)

    # ------------------------------------------------------------------ sync cloak

    async def cloak(self, request: Request) -> Response:
        data = await self.read_upload(request)
        options = self.options(request)
        outcome = await self._run_sync(WorkItem(options=options, data=data))
        if outcome.error is not None:
            raise outcome.error
        if outcome.data is None or outcome.sha256 != hashlib.sha256(data).hexdigest():
            raise ServerError("the worker's answer does not belong to this upload")
        return self.image_response(outcome.data, outcome.content_type, outcome.report, options)

    async def _run_sync(self, item: WorkItem) -> WorkResult:
        for attempt in range(1, self.config.job_attempts + 1):
            try:
                return await self.dispatch(item, self.config.request_timeout_s)
            except WorkerLostError:
                if attempt == self.config.job_attempts:
                    raise
                log.warning("a worker died holding a sync request; trying again (%d)", attempt)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ jobs

    async def submit(self, request: Request) -> tuple[JobStatus, str]:
        data = await self.read_upload(request)
        options = self.options(request)
        size = await asyncio.to_thread(self._check_image, data, options)
        record = await asyncio.to_thread(self.board.create, data, options, size)
        self._start(record.id)
        status = await asyncio.to_thread(self.board.status, record.id)
        return status, f"{JOBS_PATH}/{record.id}"

    def _check_image(self, data: bytes, options: CloakOptions) -> tuple[int, int]:
        # At submit, so a bad upload is a 4xx now rather than a failed job later.
        s = self.settings
        decoded = images.decode(data, max_pixels=s.max_pixels, max_bytes=s.max_bytes, min_side=s.min_side)
        claimed = marker.from_metadata(decoded.metadata.xmp, decoded.metadata.comment)
        if not options.force and marker.verify(claimed, decoded.marker_digest, key=s).verified:
            raise AlreadyCloakedError("the image is already cloaked (force=true cloaks it again)")
        size: tuple[int, int] = decoded.size
        return size

    async def job_status(self, job_id: str) -> JobStatus:
        status = await asyncio.to_thread(self.board.status, job_id)
        if self.board.is_stale(status) and job_id not in self._driving:
            # Its driver is gone (an ingress restart): this replica takes the job over.
            log.warning(
                "job %s went quiet (last update %.0fs ago); resuming it", job_id, time.time() - status.updated_at
            )
            await asyncio.to_thread(self.board.heartbeat, job_id)
            self._start(job_id)
            status = await asyncio.to_thread(self.board.status, job_id)
        return status

    async def job_result(self, job_id: str) -> Response:
        stored = await asyncio.to_thread(self.board.result, job_id)
        return self.image_response(stored.data, stored.content_type, stored.report, stored.options, job_id)

    async def job_cancel(self, job_id: str) -> JobStatus:
        # The worker sees the marker at its next step; nothing else needs stopping here.
        return await asyncio.to_thread(self.board.cancel, job_id)

    def _start(self, job_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drive(job_id))
        self._driving[job_id] = task
        task.add_done_callback(lambda _: self._driving.pop(job_id, None))

    async def _drive(self, job_id: str) -> None:
        """Dispatch a job until a worker has recorded its outcome, or record why it failed."""
        try:
            await self._dispatch_job(job_id)
        except Exception as exc:
            log.exception("driving job %s failed", job_id)
            error = exc if isinstance(exc, StylecloakError) else ServerError("the job could not be run")
            await asyncio.to_thread(self._fail, job_id, error)

    async def _dispatch_job(self, job_id: str) -> None:
        record = await asyncio.to_thread(self.board.record, job_id)
        item = WorkItem(options=record.options, job_id=job_id)
        deadline = time.monotonic() + self.config.job_timeout_s
        attempt = await asyncio.to_thread(self.board.begin_attempt, job_id)
        while True:
            if attempt > self.config.job_attempts:
                raise JobFailedError(f"the job's worker was lost {attempt - 1} times; giving up")
            if await asyncio.to_thread(self.board.cancelled, job_id):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise RemoteTimeoutError(f"the job did not finish within {self.config.job_timeout_s:.0f}s")
            try:
                outcome = await self._with_heartbeat(job_id, self.dispatch(item, left))
            except OverloadedError:
                # Accepted jobs wait for room instead of failing; the heartbeat keeps them alive.
                await asyncio.to_thread(self.board.heartbeat, job_id)
                await asyncio.sleep(self.config.retry_after_s)
                continue
            except WorkerLostError:
                log.warning("the worker running job %s was lost (attempt %d)", job_id, attempt)
                attempt = await asyncio.to_thread(self.board.begin_attempt, job_id)
                continue
            if not outcome.stored:
                error = outcome.error or ServerError("the worker kept no result")
                await asyncio.to_thread(self._fail, job_id, error)
            return

    async def _with_heartbeat(self, job_id: str, work: Awaitable[WorkResult]) -> WorkResult:
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.config.heartbeat_s)
                if done:
                    return task.result()
                await asyncio.to_thread(self.board.heartbeat, job_id)
        finally:
            if not task.done():
                task.cancel()

    def _fail(self, job_id: str, error: StylecloakError) -> None:
        status = self.board.status(job_id)
        if not status.finished:
            self.board.fail(job_id, error)


def rights_headers(rights: dict[str, Any]) -> dict[str, str]:
    """``X-Robots-Tag`` / TDMRep headers for a response delivering an image cloaked with ``rights``."""
    try:
        from stylecloak.rights import RightsPolicy, http_headers
    except ImportError:  # pragma: no cover - the worker refuses rights it cannot write anyway
        return {}
    try:
        headers: dict[str, str] = http_headers(RightsPolicy.from_mapping(public_rights(rights)))
        return headers
    except StylecloakError:
        return {}
