"""Fixtures for the Serve tests: settings for small real cloaks, a local HTTP server, one Ray cluster.

The Ray cluster is started once per test run, only when a test asks for it, and always shut down at
the end; Serve tests use the CPU profile (no GPUs asked for) and a timeout on every start.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TOKEN = "test-token"
# Ray's token auth for the test cluster is switched on in tests/conftest.py, before anything imports Ray.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def engine_settings(fast_settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``AppConfig.settings`` for workers: the fast test settings, explicit (replicas do not share our env)."""
    return {
        "models_dir": str(fast_settings.models_dir),
        "cache_dir": str(fast_settings.cache_dir),
        "quality": "fast",
        "working_resolution": 128,
        "render_cap": 128,
        "mimic_resolutions": [128, 192],
        "budget": "ssim",
        "max_bytes": 1_000_000,
    }


@dataclass
class LocalServer:
    url: str
    store: Path


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory, engine_settings) -> Iterator[LocalServer]:  # type: ignore[no-untyped-def]
    """The HTTP API without Ray, on a real socket, over stylecloak.testing's fake engine: these tests are
    about the API. The Ray tests (test_ray_app.py) run the real engine in their replicas."""
    uvicorn = pytest.importorskip("uvicorn")
    from stylecloak.serve.config import cpu_config
    from stylecloak.serve.local import create_local_app
    from stylecloak.settings import Settings
    from stylecloak.testing import FakeCloaker

    # 2 ms a step: a 3000-step job runs long enough to be seen running and cancelled.
    cloaker = FakeCloaker(Settings.model_validate(engine_settings), seconds_per_step=0.002)

    store = tmp_path_factory.mktemp("jobs")
    config = cpu_config(
        tokens=[TOKEN], store=str(store), settings=engine_settings, max_request_bytes=300_000, max_steps=5000
    )
    server = uvicorn.Server(
        uvicorn.Config(create_local_app(config, cloaker=cloaker), host="127.0.0.1", port=free_port(), log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the local server did not start"
        time.sleep(0.02)
    try:
        yield LocalServer(f"http://127.0.0.1:{server.config.port}", store)
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class RayCluster:
    metrics_url: str


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One local Ray cluster for the whole run (2 CPUs, small object store), shut down at the end."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.serve")
    from ray import serve

    metrics_port = free_port()
    ray.init(
        address="local",  # never join a cluster someone else on this machine started
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
        configure_logging=False,
        _node_ip_address="127.0.0.1",
        _metrics_export_port=metrics_port,
        _system_config={"metrics_report_interval_ms": 1000},
    )
    try:
        yield RayCluster(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
