"""Load on the Ray Serve app through the SDK client: 1 worker replica, then 2, in one run.

    .venv/bin/python benchmarks/bench_load.py                       # 200 uploads, 16 at a time, 4 steps
    .venv/bin/python benchmarks/bench_load.py --images 400 --concurrency 32 --steps 8 --replicas 1,2,4

Starts a local Ray cluster (``--cpus``, default all cores), deploys the application once per replica
count (CPU profile, one CPU and one torch thread per worker replica, so a replica here stands for
one GPU on a cluster), warms every replica up, then sends ``--images`` distinct small PNGs through
:class:`stylecloak.AsyncClient` with at most ``--concurrency`` in flight. The worker queues are
deliberately small, so bursts meet 503 + Retry-After and the client's retries.

Printed per replica count: throughput (images/s), latency p50/p95/p99 (per upload, retries
included), and the counts of successes, retries, typed failures, lost requests (an exception that
is not a stylecloak error, or no answer at all: must be 0) and wrong images (an answer that is not a
cloak of its own upload: must be 0). Then throughput ratios against 1 replica.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _common import artwork as _artwork
from _common import find_models
from PIL import Image

TOKEN = "bench-token"


def artwork(index: int, width: int = 160, height: int = 128) -> bytes:
    return _artwork(index, width, height)


def psnr(a: bytes, b: bytes) -> float:
    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.float64)
    if x.shape != y.shape:
        return 0.0
    mse = float(np.mean((x - y) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255**2 / mse))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Run:
    replicas: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    successes: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    wrong: int = 0
    retries: int = 0

    @property
    def throughput(self) -> float:
        return self.successes / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


async def load(endpoint: str, uploads: list[bytes], concurrency: int, steps: int, retries: int, run: Run) -> None:
    from stylecloak.client import AsyncClient
    from stylecloak.errors import StylecloakError

    gate = asyncio.Semaphore(concurrency)
    async with AsyncClient(endpoint=endpoint, token=TOKEN, retries=retries, timeout_s=600) as client:

        async def one(index: int, data: bytes) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    result = await client.cloak(data, artist_id=f"artist-{index % 10}", steps=steps)
                except StylecloakError as exc:
                    run.failures[exc.code] = run.failures.get(exc.code, 0) + 1
                    return
                except Exception as exc:  # anything untyped counts as a lost request
                    print(f"  lost upload {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    run.lost += 1
                    return
                run.latencies.append(time.perf_counter() - started)
                run.successes += 1
                if psnr(data, result.data) < 25 or result.report.size != (160, 128):
                    run.wrong += 1

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(i, data) for i, data in enumerate(uploads)), return_exceptions=True)
        run.seconds = time.perf_counter() - started
        run.retries = client.stats.retries
    run.lost += sum(isinstance(outcome, BaseException) for outcome in outcomes)
    answered = run.successes + sum(run.failures.values()) + run.lost
    run.lost += len(uploads) - answered  # never answered at all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="Optimisation steps per cloak.")
    parser.add_argument("--replicas", default="1,2", help="Comma-separated worker replica counts.")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs for the local Ray cluster.")
    parser.add_argument("--retries", type=int, default=20, help="Client retries on 503.")
    args = parser.parse_args()
    counts = [int(part) for part in args.replicas.split(",")]
    models = find_models()
    if models is None:
        print("bench_load: TAEF2 weights not found (set STYLECLOAK_MODELS_DIR)", file=sys.stderr)
        return 1
    from stylecloak.cli.serve import LOOPBACK, secure_ray_environment

    os.environ.update(secure_ray_environment())  # Ray's token auth and loopback binding, as `stylecloak serve`
    import ray
    from ray import serve
    from stylecloak.serve.app import build_app, run_app
    from stylecloak.serve.config import CloakWorkerConfig, IngressConfig, cpu_config

    cache = Path(tempfile.mkdtemp(prefix="stylecloak-bench-cache-"))
    store = Path(tempfile.mkdtemp(prefix="stylecloak-bench-jobs-"))
    uploads = [artwork(i) for i in range(args.images)]
    engine = {
        "models_dir": str(models),
        "cache_dir": str(cache),
        "quality": "fast",
        "working_resolution": 128,
        "render_cap": 128,
        "mimic_resolutions": [128, 192],
        "budget": "ssim",
        "threads": 1,
    }
    print(
        f"bench_load: {args.images} uploads of 160x128 PNG, {args.concurrency} in flight, {args.steps} steps, "
        f"Ray on {args.cpus} CPUs ({os.cpu_count()} cores here), 1 CPU + 1 torch thread per worker replica; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    for name in ("ray", "ray.serve"):  # after the imports, which set their own levels
        logging.getLogger(name).setLevel(logging.WARNING)
    ray.init(
        address="local",
        num_cpus=args.cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _node_ip_address=LOOPBACK,
    )
    runs: list[Run] = []
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        endpoint = f"http://127.0.0.1:{port}"
        for replicas in counts:
            worker = CloakWorkerConfig(
                num_gpus=0,
                num_cpus=1,
                replicas=replicas,
                max_batch_size=4,
                max_ongoing_requests=4,
                max_queued_requests=8,
            )
            config = cpu_config(
                tokens=[TOKEN],
                store=str(store),
                settings=engine,
                worker=worker,
                ingress=IngressConfig(replicas=1, num_cpus=0),
                retry_after_s=1,
            )
            run_app(build_app(config), name="bench", timeout=300)
            warm = Run(replicas)
            asyncio.run(load(endpoint, [artwork(10_000 + i) for i in range(4 * replicas)], 4 * replicas, 2, 50, warm))
            run = Run(replicas)
            asyncio.run(load(endpoint, uploads, args.concurrency, args.steps, args.retries, run))
            runs.append(run)
            p50, p95, p99 = (run.percentile(q) for q in (50, 95, 99))
            print(
                f"replicas={replicas}: {run.throughput:6.2f} images/s over {run.seconds:6.1f}s | "
                f"latency p50 {p50:5.2f}s p95 {p95:5.2f}s p99 {p99:5.2f}s | "
                f"ok {run.successes} retries {run.retries} failed {sum(run.failures.values())} {run.failures or ''} "
                f"lost {run.lost} wrong {run.wrong}",
                flush=True,
            )
            serve.delete("bench")
    finally:
        serve.shutdown()
        ray.shutdown()
    base = runs[0].throughput if runs else 0.0
    for run in runs[1:]:
        ratio = run.throughput / base if base else float("nan")
        print(f"throughput ratio {run.replicas} replicas / {runs[0].replicas}: {ratio:.2f}x")
    total_lost = sum(run.lost for run in runs)
    total_wrong = sum(run.wrong for run in runs)
    print(f"lost requests: {total_lost}; wrong images: {total_wrong}; load average after: {os.getloadavg()[0]:.1f}")
    return 1 if total_lost or total_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
