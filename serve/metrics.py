"""Application metrics, exported through Ray Serve's metrics API (``ray.serve.metrics``).

They appear on every Ray node's metrics endpoint (Prometheus format, prefixed ``ray_``) next to
Serve's own (``ray_serve_deployment_queued_queries``, ``ray_serve_num_ongoing_requests`` …):

    stylecloak_requests_total{route, outcome}   requests by route and outcome (ok or an error code)
    stylecloak_cloak_seconds                    seconds per cloak, by outcome
    stylecloak_steps_per_second                 optimisation steps per second of the last batch
    stylecloak_batch_size                       images per engine call
    stylecloak_queue_depth                      requests waiting in a worker replica

The gateway and worker logic only see :class:`Metrics`; :class:`NullMetrics` serves tests and the
Ray-free local app.
"""

from __future__ import annotations

from typing import Any, Protocol

LATENCY_BOUNDARIES = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]
BATCH_BOUNDARIES = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0]


class Metrics(Protocol):
    def request(self, route: str, outcome: str) -> None: ...
    def cloak(self, seconds: float, outcome: str) -> None: ...
    def batch(self, size: int, steps: int, seconds: float) -> None: ...
    def queue(self, depth: int) -> None: ...


class NullMetrics:
    def request(self, route: str, outcome: str) -> None:
        pass

    def cloak(self, seconds: float, outcome: str) -> None:
        pass

    def batch(self, size: int, steps: int, seconds: float) -> None:
        pass

    def queue(self, depth: int) -> None:
        pass


class RayMetrics:
    """The metrics above as Ray metrics; build inside a replica (Ray tags them with it)."""

    def __init__(self) -> None:
        from ray.serve.metrics import Counter, Gauge, Histogram

        self._requests: Any = Counter(
            "stylecloak_requests",
            description="Requests by route and outcome.",
            tag_keys=("route", "outcome"),  # type: ignore[arg-type]
        )
        self._seconds: Any = Histogram(
            "stylecloak_cloak_seconds",
            description="Seconds per cloak (batch time shared among its images).",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=("outcome",),
        )
        self._steps: Any = Gauge("stylecloak_steps_per_second", description="Optimisation steps per second.")
        self._batch: Any = Histogram(
            "stylecloak_batch_size", description="Images per engine call.", boundaries=BATCH_BOUNDARIES
        )
        self._queue: Any = Gauge("stylecloak_queue_depth", description="Requests waiting in this worker replica.")

    def request(self, route: str, outcome: str) -> None:
        self._requests.inc(1, tags={"route": route, "outcome": outcome})

    def cloak(self, seconds: float, outcome: str) -> None:
        self._seconds.observe(seconds, tags={"outcome": outcome})

    def batch(self, size: int, steps: int, seconds: float) -> None:
        self._batch.observe(size)
        if seconds > 0:
            self._steps.set(steps * size / seconds)

    def queue(self, depth: int) -> None:
        self._queue.set(depth)
