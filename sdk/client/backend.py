"""What a client backend is, and the in-process one.

A backend runs cloaks and async jobs for :class:`~stylecloak.client.Client` (blocking methods) or
:class:`~stylecloak.client.AsyncClient` (awaitable ones). ``local`` is here; ``http`` lives in
:mod:`stylecloak.client.http`, imported only when chosen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stylecloak.client.jobs import LocalJobRunner
from stylecloak.images import ImageInput, read_bytes
from stylecloak.options import CloakOptions
from stylecloak.result import CloakResult, ProgressCallback
from stylecloak.settings import Settings
from stylecloak.wire import JobStatus


@dataclass
class ClientStats:
    """What one client has sent: requests (retries included) and retries (0 for the local backend)."""

    requests: int = 0
    retries: int = 0


@dataclass(frozen=True)
class CloakCall:
    """One call: its validated options, and the caller's own rights policy for an in-process engine
    (a remote one gets ``options.rights``, without the signing credentials)."""

    options: CloakOptions = field(default_factory=CloakOptions)
    rights: Any = None

    @classmethod
    def build(cls, base: CloakOptions | None = None, **values: Any) -> CloakCall:
        """``base`` with ``values`` on top (``None`` values leave ``base``'s); validated here."""
        merged = base.model_dump(exclude_defaults=True) if base is not None else {}
        merged.update({key: value for key, value in values.items() if value is not None})
        return cls(CloakOptions.build(**merged), merged.get("rights"))

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Cloaker.cloak``; the rights are written after it (:meth:`finish`)."""
        return self.options.model_dump(exclude={"rights"}, exclude_none=True)

    def finish(self, result: CloakResult) -> CloakResult:
        """The step after the engine: the caller's rights signals written into the cloaked file."""
        if self.rights is None:
            return result
        from stylecloak.rights import RightsPolicy
        from stylecloak.rights.signals import signed

        policy = self.rights if isinstance(self.rights, RightsPolicy) else RightsPolicy.from_mapping(self.rights)
        return signed(result, policy)

    def remote(self) -> CloakOptions:
        """The options a remote endpoint is sent."""
        return self.options


class SyncBackend(Protocol):
    remote: bool
    stats: ClientStats

    def cloak(self, image: ImageInput, call: CloakCall, progress: ProgressCallback | None) -> CloakResult: ...
    def submit(self, image: ImageInput, call: CloakCall) -> JobStatus: ...
    def job_status(self, job_id: str) -> JobStatus: ...
    def job_result(self, job_id: str) -> CloakResult: ...
    def job_cancel(self, job_id: str) -> JobStatus: ...
    def close(self) -> None: ...


class AsyncBackend(Protocol):
    remote: bool
    stats: ClientStats

    async def cloak(self, image: ImageInput, call: CloakCall, progress: ProgressCallback | None) -> CloakResult: ...
    async def submit(self, image: ImageInput, call: CloakCall) -> JobStatus: ...
    async def job_status(self, job_id: str) -> JobStatus: ...
    async def job_result(self, job_id: str) -> CloakResult: ...
    async def job_cancel(self, job_id: str) -> JobStatus: ...
    async def close(self) -> None: ...


class LocalBackend:
    """Runs the engine in this process (needs the ``engine`` extra). Models load on first use."""

    remote = False

    def __init__(self, settings: Settings, cloaker: Any = None) -> None:
        self.settings = settings
        self._cloaker = cloaker
        self.stats = ClientStats()
        self.jobs: LocalJobRunner[CloakCall] = LocalJobRunner(self._run)

    @property
    def cloaker(self) -> Any:
        if self._cloaker is None:
            from stylecloak.engine.cloaker import default_cloaker

            self._cloaker = default_cloaker(self.settings)
        return self._cloaker

    def _run(self, image: ImageInput, progress: ProgressCallback | None, call: CloakCall) -> CloakResult:
        result: CloakResult = self.cloaker.cloak(image, progress=progress, **call.engine_kwargs())
        return call.finish(result)

    def cloak(self, image: ImageInput, call: CloakCall, progress: ProgressCallback | None) -> CloakResult:
        self.stats.requests += 1
        return self._run(image, progress, call)

    def submit(self, image: ImageInput, call: CloakCall) -> JobStatus:
        self.stats.requests += 1
        if not isinstance(image, (str, bytes)) and hasattr(image, "read"):
            # The caller may close its file before the job starts.
            image = read_bytes(image, self.settings.max_bytes)
        return self.jobs.submit(image, call)

    def job_status(self, job_id: str) -> JobStatus:
        return self.jobs.status(job_id)

    def job_result(self, job_id: str) -> CloakResult:
        return self.jobs.result(job_id)

    def job_cancel(self, job_id: str) -> JobStatus:
        return self.jobs.cancel(job_id)

    def close(self) -> None:
        self.jobs.close()


class AsyncLocalBackend:
    """The local backend, awaitable: cloaks run in a worker thread, so the event loop stays free."""

    remote = False

    def __init__(self, settings: Settings, cloaker: Any = None) -> None:
        self.backend = LocalBackend(settings, cloaker)
        self.stats = self.backend.stats

    @property
    def cloaker(self) -> Any:
        return self.backend.cloaker

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)

    async def cloak(self, image: ImageInput, call: CloakCall, progress: ProgressCallback | None) -> CloakResult:
        result: CloakResult = await self._call(self.backend.cloak, image, call, progress)
        return result

    async def submit(self, image: ImageInput, call: CloakCall) -> JobStatus:
        status: JobStatus = await self._call(self.backend.submit, image, call)
        return status

    async def job_status(self, job_id: str) -> JobStatus:
        return self.backend.job_status(job_id)  # in memory: no need for a thread

    async def job_result(self, job_id: str) -> CloakResult:
        return self.backend.job_result(job_id)

    async def job_cancel(self, job_id: str) -> JobStatus:
        return self.backend.job_cancel(job_id)

    async def close(self) -> None:
        await self._call(self.backend.close)
