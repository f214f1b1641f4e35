"""The Ray Serve application: an HTTP ``Ingress`` composing ``CloakWorker`` replicas through a handle.

    serve run stylecloak.serve:build_app          # or: stylecloak serve (local CPU profile)
    serve deploy serve/serve_config.yaml           # clusters (KubeRay: the Helm chart's RayService)

Workers load the engine once, batch same-size requests with ``@serve.batch`` and run each batch
in a thread (the replica's event loop stays free for health checks and new requests). Resources,
queue limits and autoscaling come from :class:`~stylecloak.serve.config.AppConfig`, applied with
``.options()``. Ray-specific failures become the gateway's neutral errors here, in
:class:`RayDispatcher`, and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from ray import serve
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, RequestCancelledError
from ray.serve.handle import DeploymentHandle
from stylecloak.errors import ConfigurationError, OverloadedError, RemoteTimeoutError, ServerError, WorkerLostError

from .api import create_api
from .config import AppConfig
from .gateway import Gateway
from .metrics import RayMetrics
from .worker import WorkerCore, WorkItem, WorkResult

log = logging.getLogger(__name__)

try:  # named in Ray 2.x as ReplicaUnavailableError; absent in some versions
    from ray.serve.exceptions import ReplicaUnavailableError
except ImportError:  # pragma: no cover
    ReplicaUnavailableError = RayActorError  # type: ignore[misc,assignment]

_LOST = (ActorDiedError, ActorUnavailableError, RayActorError, ReplicaUnavailableError)


@serve.deployment(name="CloakWorker")
class CloakWorker:
    def __init__(self, config: AppConfig | dict[str, Any]) -> None:
        config = AppConfig.model_validate(config)
        self.metrics = RayMetrics()
        self.core = WorkerCore(config, metrics=self.metrics)
        # @serve.batch's sizes are fixed at class definition; the config's are set per replica here.
        self.cloak_batch.set_max_batch_size(config.worker.max_batch_size)  # type: ignore[attr-defined]
        self.cloak_batch.set_batch_wait_timeout_s(config.worker.batch_wait_timeout_s)  # type: ignore[attr-defined]
        self.waiting = 0

    async def run(self, item: WorkItem) -> WorkResult:
        self.waiting += 1
        self.metrics.queue(self.waiting)
        try:
            return await self.cloak_batch(item)
        finally:
            self.waiting -= 1
            self.metrics.queue(self.waiting)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def cloak_batch(self, items: list[WorkItem]) -> list[WorkResult]:
        return await asyncio.to_thread(self.core.run_batch, items)

    def check_health(self) -> None:
        self.core.check_health()


class RayDispatcher:
    """Sends work items to the ``CloakWorker`` deployment and translates Ray's failures."""

    def __init__(self, worker: DeploymentHandle[Any]) -> None:
        self.worker = worker

    async def __call__(self, item: WorkItem, timeout: float) -> WorkResult:
        response = self.worker.run.remote(item)
        try:
            outcome: WorkResult = await asyncio.wait_for(_awaited(response), timeout)
            return outcome
        except TimeoutError as exc:
            response.cancel()  # type: ignore[no-untyped-call]
            raise RemoteTimeoutError(f"the cloak took longer than {timeout:.0f}s") from exc
        except asyncio.CancelledError:
            response.cancel()  # type: ignore[no-untyped-call]
            raise
        except BackPressureError as exc:
            raise OverloadedError("every worker queue is full; retry later", detail=str(exc)) from exc
        except _LOST as exc:
            raise WorkerLostError("the worker replica died while cloaking", detail=type(exc).__name__) from exc
        except RequestCancelledError as exc:
            raise WorkerLostError("the worker dropped the request", detail=type(exc).__name__) from exc
        except DeploymentUnavailableError as exc:
            raise ServerError("the cloak workers failed to deploy", detail=type(exc).__name__) from exc
        except RayTaskError as exc:
            log.error("a worker raised: %s", exc)
            raise ServerError("the worker failed", detail=type(exc).__name__) from exc


async def _awaited(response: Any) -> Any:
    return await response


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    def __init__(self, worker: DeploymentHandle[Any], config: AppConfig | dict[str, Any]) -> None:
        config = AppConfig.model_validate(config)
        self.gateway = Gateway(config, RayDispatcher(worker), metrics=RayMetrics())

    def __serve_build_asgi_app__(self) -> Any:
        return create_api(self.gateway)


def run_app(app: Any, *, name: str = "stylecloak", route_prefix: str = "/", timeout: float = 300.0) -> None:
    """``serve.run`` that gives up after ``timeout`` seconds instead of waiting forever.

    ``serve.run`` returns once the replicas are up, and never if they cannot be placed (a GPU asked
    of a cluster without one); it runs aside here and a stuck start becomes a ConfigurationError.
    """
    failure: list[BaseException] = []

    def deploy() -> None:
        try:
            serve.run(app, name=name, route_prefix=route_prefix, blocking=False)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=deploy, name="stylecloak-deploy", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ConfigurationError(
            f"the application did not start within {timeout:.0f}s (workers asking for GPUs the cluster lacks?)"
        )
    if failure:
        raise ConfigurationError(f"the application failed to start: {failure[0]}") from failure[0]


def build_app(args: AppConfig | dict[str, Any] | None = None) -> Any:
    """The application for ``args`` (an :class:`AppConfig` or its mapping; None: the defaults)."""
    # Deployment arguments are kept in Ray's store: tokens travel as digests only.
    config = AppConfig.model_validate(args or {}).sealed()
    worker = CloakWorker.options(**config.worker.deployment_options()).bind(config)  # type: ignore[attr-defined]
    return Ingress.options(**config.ingress.deployment_options()).bind(worker, config)  # type: ignore[attr-defined]
