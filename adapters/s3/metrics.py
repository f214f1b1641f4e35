"""Prometheus metrics of the S3 adapters: events processed, failures, duration, messages in flight."""

from __future__ import annotations

from typing import Any

from stylecloak.errors import MissingExtraError

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MissingExtraError("prometheus-client", "s3") from exc
    return prometheus_client


class Metrics:
    """One set of metrics in its own registry (so several workers in one process never collide)."""

    def __init__(self, registry: Any = None) -> None:
        pc = prometheus()
        self.registry = registry if registry is not None else pc.CollectorRegistry()
        self.processed = pc.Counter(
            "stylecloak_s3_processed",
            "S3 events handled, by status (written, skipped, dead_letter) and reason.",
            ["status", "reason"],
            registry=self.registry,
        )
        self.failed = pc.Counter(
            "stylecloak_s3_failed",
            "Transient failures; the message was kept for a retry.",
            ["reason"],
            registry=self.registry,
        )
        self.duration = pc.Histogram(
            "stylecloak_s3_duration_seconds",
            "Time to handle one message, all of its records.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = pc.Gauge("stylecloak_s3_in_flight", "Messages being processed now.", registry=self.registry)
        self._server: Any = None

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent), e.g. ``value("stylecloak_s3_processed_total", status=...)``."""
        found = self.registry.get_sample_value(name, labels)
        return float(found or 0.0)

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Expose ``/metrics`` over HTTP; returns the bound port (useful with port 0)."""
        server, _thread = prometheus().start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
