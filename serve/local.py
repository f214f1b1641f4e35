"""The API without Ray: the worker logic runs in a thread of the same process.

For a single machine that needs no cluster, and for tests of the HTTP layer:

    uvicorn --factory stylecloak.serve.local:create_local_app

Requests are cloaked one at a time (each cloak already uses every core); there is no batching,
autoscaling or 503 back-pressure here — that is what the Ray Serve app (:mod:`stylecloak.serve.app`) adds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from stylecloak.errors import RemoteTimeoutError

from .api import create_api
from .config import AppConfig, cpu_config
from .gateway import Gateway
from .worker import WorkerCore, WorkItem, WorkResult


class InProcessDispatcher:
    """A :class:`~stylecloak.serve.gateway.Dispatcher` that calls a :class:`WorkerCore` in a thread."""

    def __init__(self, core: WorkerCore) -> None:
        self.core = core

    async def __call__(self, item: WorkItem, timeout: float) -> WorkResult:
        try:
            outcomes = await asyncio.wait_for(asyncio.to_thread(self.core.run_batch, [item]), timeout)
        except TimeoutError as exc:
            raise RemoteTimeoutError(f"the cloak took longer than {timeout:.0f}s") from exc
        return outcomes[0]


def create_local_app(config: AppConfig | None = None, *, cloaker: Any = None) -> FastAPI:
    """The HTTP API over an in-process worker (``cloaker``: share an already-loaded engine)."""
    config = config or cpu_config()
    core = WorkerCore(config, cloaker=cloaker)
    return create_api(Gateway(config, InProcessDispatcher(core)))
