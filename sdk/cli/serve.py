"""``stylecloak serve``: the cloak service on a local Ray cluster, CPU only, on 127.0.0.1:8000.

Starts Ray on this machine, deploys the Serve application (CPU profile: no GPUs asked for) and
waits until Ctrl-C, then shuts everything down. The bearer token comes from ``--token``, else
``STYLECLOAK_TOKEN``, else a new one is made and printed. For clusters, deploy
``serve/serve_config.yaml`` instead (``--print-config`` shows it).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
from typing import Any

from stylecloak.errors import ConfigurationError, MissingExtraError

START_TIMEOUT_S = 300.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="Run the cloak service locally (Ray Serve, CPU).", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
    parser.add_argument("--token", help="Bearer token clients must send (default: STYLECLOAK_TOKEN, else a new one).")
    parser.add_argument("--replicas", type=int, default=1, help="Cloak worker replicas (they share the CPUs).")
    parser.add_argument("--cpus", type=int, help="CPUs Ray may use (default: all).")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per worker replica (default 0: CPU only).")
    parser.add_argument("--store", help="Job store: a folder or s3://bucket/prefix (default: <cache>/jobs).")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S, help="Seconds to wait for start-up.")
    parser.add_argument("--print-config", action="store_true", help="Print the cluster serve_config.yaml and exit.")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylecloak.serve.config import IngressConfig, WorkerConfig, cluster_config, cpu_config, render_yaml
    from stylecloak.settings import get_settings

    if args.print_config:
        sys.stdout.write(render_yaml(cluster_config()))
        return 0
    if args.replicas < 1:
        raise ConfigurationError("--replicas must be at least 1")
    settings = get_settings()
    token = args.token or (settings.token.get_secret_value() if settings.token else "")
    generated = not token
    token = token or secrets.token_urlsafe(24)
    cpus = args.cpus or os.cpu_count() or 1
    per_worker = max(1, cpus // args.replicas)
    config = cpu_config(
        tokens=[token],
        store=args.store or str(settings.cache_dir / "jobs"),
        worker=WorkerConfig(
            num_gpus=args.gpus,
            num_cpus=per_worker,
            replicas=args.replicas,
            max_batch_size=4,
            max_ongoing_requests=8,
            max_queued_requests=32,
        ),
        ingress=IngressConfig(replicas=1, num_cpus=0),
        settings={"threads": per_worker} if not args.gpus else {},
    )
    # Ray 2.60 turns token auth on by default; this cluster only listens on this machine.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise MissingExtraError("ray", "serve") from exc
    from stylecloak.serve.app import build_app, run_app

    verbose = logging.getLogger().level <= logging.INFO
    if not verbose:
        logging.getLogger("ray").setLevel(logging.WARNING)
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
    ray.init(
        address="local",
        num_cpus=cpus,
        num_gpus=args.gpus * args.replicas,
        include_dashboard=False,
        log_to_driver=verbose,
        configure_logging=verbose,
    )
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        run_app(build_app(config), timeout=args.start_timeout)
        url = f"http://{args.host}:{args.port}"
        print(f"stylecloak serving on {url}  (API docs: {url}/docs; Ctrl-C stops it)", flush=True)
        if generated:
            print(f"token: {token}", flush=True)
        print(
            f"try: stylecloak cloak --endpoint {url} --token {'<token>' if not generated else token} IMAGE", flush=True
        )
        _wait_for_signal()
        print("stylecloak: stopping", file=sys.stderr, flush=True)
    finally:
        try:
            serve.shutdown()  # type: ignore[no-untyped-call]
        finally:
            ray.shutdown()  # type: ignore[no-untyped-call]
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    while not stop.wait(0.5):
        pass
