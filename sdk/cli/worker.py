"""``stylecloak worker s3 --queue URL``: cloak what S3 event notifications in an SQS queue point at.

Routes come from ``--config FILE`` (JSON), or ``--source``/``--destination`` (one route), or the
``STYLECLOAK_S3_*`` environment; flags override the environment. SIGTERM or Ctrl-C stops the worker
gracefully (in-flight cloaks get ``--shutdown-grace`` seconds, then their messages are released);
a second signal ends it at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from stylecloak.cli._common import settings_from

QUEUE_ENV = "STYLECLOAK_S3_QUEUE_URL"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="Run a queue worker (S3 events).", description=__doc__)
    parser.set_defaults(handler=lambda args: _usage(parser))
    kinds = parser.add_subparsers(dest="worker_kind", metavar="KIND")
    s3 = kinds.add_parser(
        "s3",
        help="Cloak objects named by S3 event notifications from an SQS queue.",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    s3.set_defaults(handler=run_s3)
    s3.add_argument("--queue", default=os.environ.get(QUEUE_ENV), help=f"SQS queue URL (or {QUEUE_ENV}).")
    s3.add_argument("--dlq", help="Dead-letter queue URL (default: the queue's redrive target).")
    routes = s3.add_argument_group("routes")
    routes.add_argument("--config", type=Path, help="JSON file with the whole S3 configuration (routes, endpoints).")
    routes.add_argument("--source", help="Watched location, s3://bucket/prefix/.")
    routes.add_argument("--destination", help="Where cloaked outputs go, s3://bucket/prefix/.")
    routes.add_argument("--archive", help="Move originals here (private) once cloaked; default: keep in place.")
    routes.add_argument("--intensity", choices=["low", "default", "high"], help="Cloak intensity for every route.")
    routes.add_argument("--quality", choices=["fast", "default", "slow"], help="Cloak quality for every route.")
    routes.add_argument("--steps", type=int, help="Override optimisation steps (experiments, tests).")
    connection = s3.add_argument_group("connection")
    connection.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (MinIO, Ceph, R2, moto...).")
    connection.add_argument("--sqs-endpoint-url", help="SQS-compatible endpoint (ElasticMQ, moto...).")
    connection.add_argument("--region", help="AWS region.")
    connection.add_argument("--addressing-style", choices=["auto", "path", "virtual"], help="S3 addressing style.")
    connection.add_argument("--max-attempts", type=int, help="boto3 attempts per call.")
    connection.add_argument(
        "--no-conditional-writes", action="store_true", help="For S3-compatible servers without If-None-Match."
    )
    connection.add_argument("--endpoint", help="Cloak on a stylecloak Serve endpoint instead of in-process.")
    connection.add_argument("--token", help="Bearer token for --endpoint (or STYLECLOAK_TOKEN).")
    polling = s3.add_argument_group("polling")
    polling.add_argument("--concurrency", type=int, default=2, help="Messages processed at once.")
    polling.add_argument("--wait-time", type=int, default=10, help="Long-poll seconds (0-20).")
    polling.add_argument("--visibility-timeout", type=int, default=60, help="Seconds a message is held (extended).")
    polling.add_argument("--max-receives", type=int, default=5, help="Receives before dead-lettering.")
    polling.add_argument("--retry-delay", type=float, default=5.0, help="First retry delay (doubles each time).")
    polling.add_argument("--shutdown-grace", type=float, default=25.0, help="Seconds to finish on SIGTERM.")
    polling.add_argument("--metrics-port", type=int, help="Serve Prometheus /metrics on this port.")
    polling.add_argument("--metrics-addr", default="0.0.0.0", help="Address for /metrics.")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_s3(args: argparse.Namespace) -> int:
    from stylecloak.adapters.s3.config import config_from_flags, worker_config_from_flags
    from stylecloak.adapters.s3.metrics import Metrics
    from stylecloak.adapters.s3.worker import Worker
    from stylecloak.client import Client

    # The flags → the adapter's own configuration: that mapping lives with the adapter.
    polling = worker_config_from_flags(vars(args))
    config = config_from_flags(vars(args))
    settings = settings_from(args, endpoint=args.endpoint, token=args.token, backend="http" if args.endpoint else None)
    metrics = Metrics()
    with Client(settings) as client:
        worker = Worker(config, polling, client=client, metrics=metrics)
        if polling.metrics_port is not None:
            port = metrics.serve(polling.metrics_port, polling.metrics_addr)
            print(f"stylecloak: metrics on http://{polling.metrics_addr}:{port}/metrics", file=sys.stderr)

        def on_signal(signum: int, frame: object) -> None:
            print(f"stylecloak: {signal.Signals(signum).name}: finishing in-flight work", file=sys.stderr)
            worker.stop()
            # A second signal ends the process at once; messages not deleted simply reappear.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        print(f"stylecloak: worker polling {polling.queue_url}", file=sys.stderr, flush=True)
        try:
            stats = worker.run()
        finally:
            metrics.close()
    print(
        f"stylecloak: worker stopped: {stats.received} received, {stats.deleted} done, "
        f"{stats.retried} retried, {stats.dead_lettered} dead-lettered, {stats.released} released",
        file=sys.stderr,
    )
    return 0
