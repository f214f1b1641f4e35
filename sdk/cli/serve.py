"""``stylecloak serve``: the cloak service on a local Ray cluster, CPU only, on 127.0.0.1:8000.

Starts Ray on this machine, deploys the Serve application (CPU profile: no GPUs asked for) and
waits until Ctrl-C, then shuts everything down. The bearer token comes from ``--token-file``, else
``STYLECLOAK_TOKEN``, else ``--token`` (visible to every local user in ``ps``: avoid it), else a new
one is made and printed. For clusters, deploy ``serve/serve_config.yaml`` instead (``--print-config``
shows it).

The Ray cluster it starts is closed to everyone but this user's processes: Ray's token
authentication is on (a random token for this run, in the environment of Ray's own processes only),
every Ray service binds to 127.0.0.1, and Ray's session files live in a private (0700) folder. Only
the HTTP API listens on ``--host``. Replicas receive the API token as a SHA-256 digest, never the
token itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from stylecloak.errors import ConfigurationError, MissingExtraError

START_TIMEOUT_S = 300.0
#: Ray's own services listen here only (Ray's node IP for a one-machine cluster).
LOOPBACK = "127.0.0.1"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="Run the cloak service locally (Ray Serve, CPU).", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Address the HTTP API listens on (default 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
    parser.add_argument(
        "--token-file",
        type=Path,
        help="File whose first line is the bearer token clients must send (preferred; or STYLECLOAK_TOKEN).",
    )
    parser.add_argument(
        "--token",
        help="Bearer token on the command line: every local user can read it in `ps`; prefer --token-file or "
        "the STYLECLOAK_TOKEN environment variable. Default: a new token, printed.",
    )
    parser.add_argument("--replicas", type=int, default=1, help="Cloak worker replicas (they share the CPUs).")
    parser.add_argument("--cpus", type=int, help="CPUs Ray may use (default: all).")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per worker replica (default 0: CPU only).")
    parser.add_argument(
        "--store", help="Job store: a folder or s3://bucket/prefix (default: a private folder in the user cache)."
    )
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S, help="Seconds to wait for start-up.")
    parser.add_argument("--print-config", action="store_true", help="Print the cluster serve_config.yaml and exit.")
    parser.set_defaults(handler=run)


def api_token(args: argparse.Namespace, settings: Any) -> tuple[str, bool]:
    """(the API token, whether it was made here): --token-file, STYLECLOAK_TOKEN, --token, else new."""
    if args.token_file is not None:
        try:
            lines = args.token_file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read the token file {args.token_file}: {exc}") from exc
        token = next((line.strip() for line in lines if line.strip()), "")
        if not token:
            raise ConfigurationError(f"the token file {args.token_file} is empty")
        return token, False
    if settings.token is not None and settings.token.get_secret_value():
        return str(settings.token.get_secret_value()), False
    if args.token:
        logging.getLogger(__name__).warning("--token is visible to other local users in `ps`; prefer --token-file")
        return str(args.token), False
    return secrets.token_urlsafe(24), True


def secure_ray_environment() -> dict[str, str]:
    """The environment Ray's processes need to be closed to others (set in ``os.environ`` by the caller).

    Token auth with a fresh random token (unless the caller configured Ray's own), and Ray's node
    address kept on the loopback: Ray otherwise turns 127.0.0.1 into the host's address on Linux
    and binds its GCS, raylet and workers there.
    """
    env = {
        "RAY_AUTH_MODE": "token",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP = loopback (Ray's single-machine mode)
    }
    if not os.environ.get("RAY_AUTH_TOKEN") and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    if not os.environ.get("STYLECLOAK_MARKER_KEY"):
        # One key for every replica of this run, so the ingress and the workers agree on markers.
        env["STYLECLOAK_MARKER_KEY"] = secrets.token_hex(32)
    return env


def run(args: argparse.Namespace) -> int:
    from stylecloak.serve.config import CloakWorkerConfig, IngressConfig, cluster_config, cpu_config, render_yaml
    from stylecloak.settings import get_settings

    if args.print_config:
        sys.stdout.write(render_yaml(cluster_config()))
        return 0
    if args.replicas < 1:
        raise ConfigurationError("--replicas must be at least 1")
    settings = get_settings()
    token, generated = api_token(args, settings)
    cpus = args.cpus or os.cpu_count() or 1
    per_worker = max(1, cpus // args.replicas)
    config = cpu_config(
        tokens=[token],
        store=args.store or "",
        worker=CloakWorkerConfig(
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
    # Before Ray is imported: it reads its auth mode from the environment once, at import.
    os.environ.update(secure_ray_environment())
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
    # Ray's session folder holds its sockets (the object store's has no token): private to this user.
    temp_root = Path(tempfile.mkdtemp(prefix="stylecloak-ray-"))
    try:
        ray.init(
            address="local",
            num_cpus=cpus,
            num_gpus=args.gpus * args.replicas,
            include_dashboard=False,
            log_to_driver=verbose,
            configure_logging=verbose,
            _node_ip_address=LOOPBACK,
            _temp_dir=str(temp_root),
        )
        try:
            serve.start(
                http_options={"host": args.host, "port": args.port, "request_timeout_s": config.http_timeout_s()}
            )
            run_app(build_app(config), timeout=args.start_timeout)
            url = f"http://{args.host}:{args.port}"
            print(f"stylecloak serving on {url}  (API docs: {url}/docs; Ctrl-C stops it)", flush=True)
            if generated:
                print(f"token: {token}", flush=True)
            shown = token if generated else "<token>"
            print(f"try: STYLECLOAK_TOKEN={shown} stylecloak cloak --endpoint {url} IMAGE", flush=True)
            _wait_for_signal()
            print("stylecloak: stopping", file=sys.stderr, flush=True)
        finally:
            try:
                serve.shutdown()  # type: ignore[no-untyped-call]
            finally:
                ray.shutdown()  # type: ignore[no-untyped-call]
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    while not stop.wait(0.5):
        pass
