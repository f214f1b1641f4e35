"""One client for backend code, whether the cloak runs in-process or on a stylecloak Serve cluster.

    >>> from stylecloak import Client
    >>> with Client() as client:                                    # doctest: +SKIP
    ...     result = client.cloak(upload_bytes, artist_id="ada")
    ...     job = client.submit(huge_upload, artist_id="ada")       # async job: status, result, cancel

    >>> async with AsyncClient(endpoint="http://cloak:8000", token="…") as client:  # doctest: +SKIP
    ...     result = await client.cloak(upload_bytes, artist_id="ada")

Backends, chosen by ``settings.backend`` (``STYLECLOAK_BACKEND``): ``local`` (the in-process
:class:`~stylecloak.engine.cloaker.Cloaker`, the default) and ``http`` (a Serve endpoint:
``STYLECLOAK_ENDPOINT``, ``STYLECLOAK_TOKEN``, ``STYLECLOAK_TIMEOUT_S``, ``STYLECLOAK_RETRIES``;
giving ``endpoint=`` alone picks it). Both return the same :class:`~stylecloak.result.CloakResult`
and raise only :mod:`stylecloak.errors` exceptions. :class:`Client` and :class:`AsyncClient` are
twins over :class:`BaseClient`, which holds everything but the I/O.
"""

from __future__ import annotations

import importlib
from types import TracebackType
from typing import Any

from stylecloak.client.backend import AsyncBackend, AsyncLocalBackend, ClientStats, CloakCall, LocalBackend, SyncBackend
from stylecloak.client.jobs import AsyncJob, Job
from stylecloak.errors import ConfigurationError
from stylecloak.images import ImageInput
from stylecloak.options import CloakOptions
from stylecloak.result import CloakResult, ProgressCallback
from stylecloak.settings import Settings, get_settings

# Remote backends live in their own modules, imported only when chosen: (blocking, awaitable).
REMOTE_BACKENDS = {
    "http": ("stylecloak.client.http:HttpBackend", "stylecloak.client.http:AsyncHttpBackend"),
}

__all__ = ["AsyncClient", "BaseClient", "Client", "ClientStats", "LocalBackend"]


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class BaseClient:
    """Settings and argument handling shared by :class:`Client` and :class:`AsyncClient`; no I/O."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        base = settings or get_settings()
        if overrides.get("endpoint") and "backend" not in overrides:
            overrides["backend"] = "http"
        self.settings = base.replace(**overrides) if overrides else base
        if self.settings.backend != "local":
            if self.settings.backend not in REMOTE_BACKENDS:
                raise ConfigurationError(f"unknown backend {self.settings.backend!r}")
            if not self.settings.endpoint:
                raise ConfigurationError(
                    f"the {self.settings.backend} backend needs STYLECLOAK_ENDPOINT (or endpoint=...)"
                )

    def _remote_backend(self, index: int, transport: Any) -> Any:
        backend_class = _load(REMOTE_BACKENDS[self.settings.backend][index])
        return backend_class(self.settings, transport=transport)

    @staticmethod
    def _call(options: CloakOptions | None, **values: Any) -> CloakCall:
        return CloakCall.build(options, **values)

    def _as_job(self, remote: bool, progress: ProgressCallback | None) -> bool:
        # A remote sync call cannot report progress; with a callback it runs as a job and is polled.
        return remote and progress is not None


class Client(BaseClient):
    """Cloak images through the configured backend. Use as a context manager, or call :meth:`close`.

    ``transport``: an ``httpx`` transport for the http backend (tests, proxies); ``overrides`` are
    :class:`~stylecloak.settings.Settings` fields (``endpoint=``, ``token=``, ``retries=`` …).
    """

    def __init__(
        self, settings: Settings | None = None, *, cloaker: Any = None, transport: Any = None, **overrides: Any
    ) -> None:
        super().__init__(settings, **overrides)
        self.backend: SyncBackend = (
            LocalBackend(self.settings, cloaker)
            if self.settings.backend == "local"
            else self._remote_backend(0, transport)
        )

    @property
    def stats(self) -> ClientStats:
        return self.backend.stats

    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        progress: ProgressCallback | None = None,
        options: CloakOptions | None = None,
        **extra: Any,
    ) -> CloakResult:
        """Cloak one image and wait for it.

        ``options``: a prepared :class:`~stylecloak.options.CloakOptions` (a policy's, a route's); keyword
        options (``steps``, ``seed``, ``force``, ``rights`` …) add to it. An unknown or out-of-bounds
        option raises ``ConfigurationError`` before any work.
        """
        call = self._call(
            options, artist_id=artist_id, intensity=intensity, quality=quality, target_style=target_style, **extra
        )
        if self._as_job(self.backend.remote, progress):
            job = Job(self.backend, self.backend.submit(image, call).id)
            try:
                return job.result(timeout=self.settings.timeout_s, progress=progress)
            except BaseException:
                _cancel_quietly(job)
                raise
        return self.backend.cloak(image, call, progress)

    def submit(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        options: CloakOptions | None = None,
        **extra: Any,
    ) -> Job:
        """Start an async job (for large images); follow it with the returned :class:`Job`."""
        call = self._call(
            options, artist_id=artist_id, intensity=intensity, quality=quality, target_style=target_style, **extra
        )
        return Job(self.backend, self.backend.submit(image, call).id)

    def job(self, job_id: str) -> Job:
        """A handle on a job submitted earlier (by this or, over http, any other client)."""
        return Job(self.backend, job_id)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(BaseClient):
    """:class:`Client` for asyncio code: the same methods, awaited. Use ``async with`` or :meth:`aclose`."""

    def __init__(
        self, settings: Settings | None = None, *, cloaker: Any = None, transport: Any = None, **overrides: Any
    ) -> None:
        super().__init__(settings, **overrides)
        self.backend: AsyncBackend = (
            AsyncLocalBackend(self.settings, cloaker)
            if self.settings.backend == "local"
            else self._remote_backend(1, transport)
        )

    @property
    def stats(self) -> ClientStats:
        return self.backend.stats

    async def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        progress: ProgressCallback | None = None,
        options: CloakOptions | None = None,
        **extra: Any,
    ) -> CloakResult:
        call = self._call(
            options, artist_id=artist_id, intensity=intensity, quality=quality, target_style=target_style, **extra
        )
        if self._as_job(self.backend.remote, progress):
            job = AsyncJob(self.backend, (await self.backend.submit(image, call)).id)
            try:
                return await job.result(timeout=self.settings.timeout_s, progress=progress)
            except BaseException:
                await _acancel_quietly(job)
                raise
        return await self.backend.cloak(image, call, progress)

    async def submit(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        options: CloakOptions | None = None,
        **extra: Any,
    ) -> AsyncJob:
        call = self._call(
            options, artist_id=artist_id, intensity=intensity, quality=quality, target_style=target_style, **extra
        )
        return AsyncJob(self.backend, (await self.backend.submit(image, call)).id)

    def job(self, job_id: str) -> AsyncJob:
        return AsyncJob(self.backend, job_id)

    async def aclose(self) -> None:
        await self.backend.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()


def _cancel_quietly(job: Job) -> None:
    # Nobody will fetch the result of a call that gave up; free the worker. Best effort only.
    try:
        status = job.status()
        if not status.finished:
            job.cancel()
    except Exception:
        pass


async def _acancel_quietly(job: AsyncJob) -> None:
    try:
        status = await job.status()
        if not status.finished:
            await job.cancel()
    except Exception:
        pass
