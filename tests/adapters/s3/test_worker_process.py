"""``stylecloak worker s3`` as a real process: killed mid-cloak, stopped with SIGTERM, and a graceful stop.

The child processes cloak with the same fast settings as the in-process tests. Two routes share the
watched prefix: ``incoming/quick/`` cloaks in 2 steps, ``incoming/slow/`` in 5,000 (minutes), so a
cloak is reliably still running when the test kills or stops its worker.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from stylecloak.adapters.s3.worker import Worker
from stylecloak.marker import is_cloaked

from tests.adapters.s3.harness import MARKER_KEY, Stack, WorkerProcess, clients, running, wait_until, worker_env
from tests.conftest import encoded, painting

Spawn = Callable[..., WorkerProcess]


@pytest.fixture
def spawn(shared_models: Path, session_cache: Path, s3_client: Any) -> Iterator[Spawn]:
    """Start worker processes; every one is gone (SIGKILL if need be) when the test ends."""
    # One cloak here first fills the session's style cache, which the children then only read.
    s3_client.cloak(encoded(painting(160, 128)), steps=1)
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        process = WorkerProcess(list(args), worker_env(shared_models, session_cache))
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
    assert all(process.process.poll() is not None for process in started)


def two_speed_config(stack: Stack, tmp_path: Path) -> Path:
    routes = [
        stack.route(source=f"s3://{stack.bucket}/incoming/quick/", destination=f"s3://{stack.bucket}/public/quick/"),
        stack.route(
            source=f"s3://{stack.bucket}/incoming/slow/", destination=f"s3://{stack.bucket}/public/slow/", steps=5000
        ),
    ]
    path = tmp_path / "s3.json"
    path.write_text(json.dumps({"routes": routes}))
    return path


def cli_args(stack: Stack, config: Path, *extra: str) -> list[str]:
    return [
        "--queue",
        stack.queue_url,
        "--config",
        str(config),
        "--s3-endpoint-url",
        stack.url,
        "--sqs-endpoint-url",
        stack.url,
        "--wait-time",
        "1",
        *extra,
    ]


def finish_in_process(stack: Stack, client: Any, within: float = 60) -> Worker:
    """A second worker (in this process, 2-step cloaks everywhere) that finishes what is left."""
    s3, sqs = clients(stack.url)
    routes = [stack.route(source=f"s3://{stack.bucket}/incoming/", destination=f"s3://{stack.bucket}/public/")]
    worker = Worker(stack.s3_config(routes=routes), stack.worker_config(), client=client, s3=s3, sqs=sqs)
    with running(worker):
        wait_until(lambda: stack.head("public/slow/art.png"), within, what="the output from the second worker")
        wait_until(lambda: stack.queue_depth() == 0, 20, what="the queue to drain")
    return worker


def test_sigterm_releases_a_running_cloak_and_another_worker_finishes_it(
    stack: Stack, spawn: Spawn, s3_client: Any, tmp_path: Path
) -> None:
    config = two_speed_config(stack, tmp_path)
    worker = spawn(*cli_args(stack, config, "--visibility-timeout", "60", "--shutdown-grace", "1"))
    worker.wait_for_line("worker polling")
    quick = encoded(painting(160, 128, seed=20))
    stack.upload("quick/a.png", quick, ContentType="image/png")
    wait_until(lambda: stack.head("public/quick/a.png"), 90, what="the CLI worker's output")
    assert is_cloaked(stack.read("public/quick/a.png") or b"", key=MARKER_KEY)

    slow = encoded(painting(160, 128, seed=21))
    stack.upload("slow/art.png", slow, ContentType="image/png")
    worker.wait_for_line(r"cloaking s3://\S+/incoming/slow/art\.png")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.output()
    assert "1 released" in worker.output()
    # Released, not left to time out: visible again at once although the visibility timeout is 60 s.
    assert stack.head("public/slow/art.png") is None

    # Well inside the 60 s visibility timeout: a release that a late heartbeat undid would hide it that long.
    second = finish_in_process(stack, s3_client, within=30)
    assert second.stats.outcomes == {"written:cloaked": 1}
    assert second.stats.receive_counts == {2: 1}
    assert stack.read("incoming/slow/art.png") == slow and stack.dead_letters() == []


def test_a_worker_killed_mid_cloak_loses_nothing(stack: Stack, spawn: Spawn, s3_client: Any, tmp_path: Path) -> None:
    config = two_speed_config(stack, tmp_path)
    worker = spawn(*cli_args(stack, config, "--visibility-timeout", "3"))
    slow = encoded(painting(160, 128, seed=22))
    stack.upload("slow/art.png", slow, ContentType="image/png")
    worker.wait_for_line(r"cloaking s3://\S+/incoming/slow/art\.png", timeout=90)
    worker.signal(signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL
    assert stack.head("public/slow/art.png") is None
    assert stack.queue_depth() == 1  # still in flight: it reappears when the visibility timeout lapses

    second = finish_in_process(stack, s3_client)
    assert second.stats.outcomes == {"written:cloaked": 1}
    assert second.stats.receive_counts == {2: 1}
    assert is_cloaked(stack.read("public/slow/art.png") or b"")
    assert stack.read("incoming/slow/art.png") == slow and stack.dead_letters() == []


def test_stop_lets_an_in_flight_cloak_finish_within_the_grace_period(stack: Stack, tmp_path: Path) -> None:
    from stylecloak.testing import FakeClient

    s3_client = FakeClient(cache_dir=tmp_path, delay_s=5.0)  # still running when stop() is called
    png = encoded(painting(160, 128, seed=23))
    stack.upload("graceful.png", png, ContentType="image/png")
    s3, sqs = clients(stack.url)
    config = stack.s3_config(routes=[stack.route(steps=20)])
    worker = Worker(config, stack.worker_config(shutdown_grace_s=120), client=s3_client, s3=s3, sqs=sqs)
    with running(worker):
        wait_until(lambda: worker.stats.received >= 2, 30, what="the upload's message")  # test event + upload
        worker.stop()  # while the cloak runs; the block's exit waits for run() to return
    assert worker.stats.released == 0 and worker.stats.outcomes == {"written:cloaked": 1}
    assert stack.head("public/graceful.png") is not None and stack.queue_depth() == 0
