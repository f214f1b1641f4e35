"""The Serve application on a real local Ray cluster, called over HTTP with the SDK client.

Few tests, small images and few steps: one CPU worker replica with tiny queues, so a burst fills
them. Each start is bounded by a timeout (a deployment that cannot be placed would wait forever).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray.serve")
httpx = pytest.importorskip("httpx")

import ray  # noqa: E402
from ray import serve  # noqa: E402
from stylecloak.client import AsyncClient, Client  # noqa: E402
from stylecloak.errors import JobFailedError, OverloadedError  # noqa: E402
from stylecloak.serve.app import build_app, run_app  # noqa: E402
from stylecloak.serve.config import CloakWorkerConfig, IngressConfig, cpu_config  # noqa: E402

from tests.conftest import encoded, painting  # noqa: E402
from tests.serve.conftest import TOKEN, RayCluster, free_port  # noqa: E402

pytestmark = pytest.mark.timeout(600)
APP = "stylecloak"


@pytest.fixture(scope="module")
def endpoint(ray_cluster: RayCluster, engine_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    worker = CloakWorkerConfig(
        num_gpus=0, num_cpus=1, replicas=1, max_batch_size=2, max_ongoing_requests=2, max_queued_requests=2
    )
    config = cpu_config(
        tokens=[TOKEN],
        store=str(tmp_path_factory.mktemp("ray-jobs")),
        settings=engine_settings,
        worker=worker,
        ingress=IngressConfig(replicas=1, num_cpus=0),
        retry_after_s=1,
        heartbeat_s=1.0,
    )
    run_app(build_app(config), name=APP, timeout=120)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.delete(APP)


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def _psnr(a: bytes, b: bytes) -> float:
    mse = float(np.mean((_pixels(a) - _pixels(b)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255**2 / mse))


def test_sync_cloak_and_job_with_progress(endpoint: str) -> None:
    upload = encoded(painting(seed=20))
    seen: list[tuple[int, int]] = []
    with Client(endpoint=endpoint, token=TOKEN) as client:
        result = client.cloak(upload, artist_id="ada", steps=2)
        job = client.submit(encoded(painting(seed=21)), steps=10)
        done = job.result(timeout=120, progress=lambda d, t: seen.append((d, t)))
    assert result.report.steps == 2 and result.report.size == (160, 128) and _psnr(upload, result.data) > 25
    assert done.report.steps == 10 and seen[-1] == (10, 10)


def test_queue_full_burst_gets_503_then_is_served_after_retry(endpoint: str) -> None:
    uploads = [encoded(painting(seed=30 + i)) for i in range(8)]

    async def burst(retries: int) -> tuple[list[object], int]:
        async with AsyncClient(endpoint=endpoint, token=TOKEN, retries=retries) as client:

            async def one(data: bytes) -> object:
                try:
                    # An explicit target: no trial cloaks, so the queue drains at the pace this test was sized for.
                    return await client.cloak(data, steps=2, target_style="neon")
                except OverloadedError as exc:
                    return exc

            results = await asyncio.gather(*(one(data) for data in uploads))
            return list(results), client.stats.retries

    refused, _ = asyncio.run(burst(retries=0))
    assert any(isinstance(r, OverloadedError) for r in refused), "1 replica × (2 running + 2 queued) < 8"
    # Enough retries (each waits Retry-After, 1 s) for eight cloaks to drain on a slow, loaded machine.
    served, retries = asyncio.run(burst(retries=60))
    assert retries > 0
    for upload, result in zip(uploads, served, strict=True):
        assert not isinstance(result, Exception), result
        assert _psnr(upload, result.data) > 25  # each answer is the cloak of its own upload
    # The same burst without retries, as raw HTTP. Generous timeouts: the accepted ones queue behind each
    # other on a slow, loaded machine, and only the 503s are asserted on.
    raw = httpx.Client(timeout=300)
    with raw:
        responses = [raw.build_request("POST", f"{endpoint}/v1/cloak?steps=2&target_style=neon", content=u,
                                       headers={"Authorization": f"Bearer {TOKEN}"}) for u in uploads]  # fmt: skip

        async def send_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=300) as client:
                return list(await asyncio.gather(*(client.send(r) for r in responses)))

        statuses = asyncio.run(send_all())
    overloaded = [r for r in statuses if r.status_code == 503]
    assert overloaded and all(r.headers.get("retry-after") == "1" for r in overloaded)
    assert {r.json()["error"] for r in overloaded} == {"overloaded"}


def test_killing_the_worker_mid_job(endpoint: str) -> None:
    """The job is retried on the replacement replica (or ends failed): never hangs, never a wrong image."""
    upload = encoded(painting(seed=40))
    with Client(endpoint=endpoint, token=TOKEN) as client:
        job = client.submit(upload, steps=60)
        deadline = time.monotonic() + 180
        while job.status().done < 3:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
        replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "#CloakWorker#" in a["name"]]
        assert len(replicas) == 1
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)
        try:
            result = job.result(timeout=420)  # a new replica loads its model, then reruns the job
        except JobFailedError:
            status = job.status()
            assert status.state == "failed" and status.error is not None
        else:
            status = job.status()
            assert status.state == "succeeded" and status.attempts >= 2
            assert result.report.steps == 60 and _psnr(upload, result.data) > 25
        # The service heals: Serve replaced the replica.
        assert client.cloak(encoded(painting(seed=41)), steps=2).report.steps == 2


def test_metrics_reach_rays_metrics_endpoint(endpoint: str, ray_cluster: RayCluster) -> None:
    with Client(endpoint=endpoint, token=TOKEN) as client:
        client.cloak(encoded(painting(seed=50)), steps=2)
    wanted = ("ray_stylecloak_requests_total", "ray_stylecloak_cloak_seconds", "ray_stylecloak_batch_size",
              "ray_stylecloak_steps_per_second", "ray_stylecloak_queue_depth")  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(ray_cluster.metrics_url, timeout=10).text
        missing = [name for name in wanted if name not in text]
        if not missing:
            break
        assert time.monotonic() < deadline, f"missing metrics: {missing}"
        time.sleep(1)
    assert any('outcome="ok"' in line and 'route="cloak"' in line for line in text.splitlines())
