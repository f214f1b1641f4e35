"""The Serve application's configuration: one typed model, and the ``serve deploy`` file made from it.

:class:`AppConfig` is what :func:`stylecloak.serve.build_app` takes (the ``args:`` of a Serve config
file). Resources, batching, queue limits and autoscaling of both deployments are fields here and
are applied in code with ``.options(...)``, so the generated file has no ``deployments:`` section
to drift from them: ``serve/serve_config.yaml`` is ``render_yaml(cluster_config())``, checked by a
test. Regenerate it with ``python -m stylecloak.serve.config --write``.

Nothing here imports Ray.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from stylecloak.bounds import DEFAULT_MAX_BYTES, MAX_STEPS
from stylecloak.settings import Settings

APP_NAME = "stylecloak"
IMPORT_PATH = "stylecloak.serve:build_app"
WORKER_NAME = "CloakWorker"
INGRESS_NAME = "Ingress"
DEFAULT_PORT = 8000
CONFIG_FILE = Path(__file__).with_name("serve_config.yaml")
# Room for multipart framing around an image of the largest accepted size.
MULTIPART_OVERHEAD = 64 * 1024
# Where a Kubernetes secret with one bearer token per line is mounted (the Helm chart's convention).
CLUSTER_TOKENS_FILE = Path("/var/run/secrets/stylecloak/tokens")
#: A request body must arrive within this many seconds, and never stall longer than the idle one.
DEFAULT_BODY_TIMEOUT_S = 120.0
DEFAULT_BODY_IDLE_TIMEOUT_S = 30.0
#: Settings that hold secrets: never in ``settings`` (they would be stored in Ray and in config files).
SECRET_SETTINGS = frozenset({"token", "marker_key"})


def token_digest(token: str) -> str:
    """The SHA-256 hex digest a replica compares an offered bearer token against."""
    return hashlib.sha256(token.encode()).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Autoscaling(_Frozen):
    """Ray Serve ``autoscaling_config`` for the workers (requests in flight per replica drive it)."""

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=4, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0)
    target_ongoing_requests: float = Field(default=8.0, gt=0, description="Batch-sized: one full batch each.")
    upscale_delay_s: float = Field(default=10.0, ge=0)
    downscale_delay_s: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class CloakWorkerConfig(_Frozen):
    """The ``CloakWorker`` deployment: one replica per GPU (or per CPU slot)."""

    num_gpus: float = Field(default=1.0, ge=0, description="1 on GPU nodes; 0 on CPU (else it never starts).")
    num_cpus: float = Field(default=1.0, ge=0)
    replicas: int | None = Field(default=None, ge=1, description="A fixed replica count; None autoscales.")
    autoscaling: Autoscaling = Autoscaling()
    max_batch_size: int = Field(default=8, ge=1, description="Same-size requests cloaked together.")
    batch_wait_timeout_s: float = Field(default=0.05, ge=0)
    max_ongoing_requests: int = Field(default=16, ge=1, description="Per replica; at least max_batch_size.")
    max_queued_requests: int = Field(default=64, ge=-1, description="Waiting for a replica; beyond → 503.")
    health_check_period_s: float = Field(default=10.0, gt=0)
    health_check_timeout_s: float = Field(default=30.0, gt=0)
    graceful_shutdown_timeout_s: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _batches_fit(self) -> CloakWorkerConfig:
        if self.max_ongoing_requests < self.max_batch_size:
            raise ValueError("max_ongoing_requests must be at least max_batch_size, or batches never fill")
        return self

    def deployment_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "name": WORKER_NAME,
            "ray_actor_options": {"num_gpus": self.num_gpus, "num_cpus": self.num_cpus},
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "health_check_period_s": self.health_check_period_s,
            "health_check_timeout_s": self.health_check_timeout_s,
            "graceful_shutdown_timeout_s": self.graceful_shutdown_timeout_s,
        }
        if self.replicas is not None:
            options["num_replicas"] = self.replicas
        else:
            options["autoscaling_config"] = self.autoscaling.model_dump(exclude_none=True)
        return options


class IngressConfig(_Frozen):
    """The HTTP ``Ingress`` deployment: light, mostly waiting on workers and the job store."""

    replicas: int = Field(default=2, ge=1)
    num_cpus: float = Field(default=0.25, ge=0)
    max_ongoing_requests: int = Field(default=256, ge=1)
    max_queued_requests: int = Field(default=512, ge=-1)

    def deployment_options(self) -> dict[str, Any]:
        return {
            "name": INGRESS_NAME,
            "num_replicas": self.replicas,
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": 0},
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
        }


class AppConfig(_Frozen):
    """Everything :func:`stylecloak.serve.build_app` needs. Secrets never appear in a config file, nor in
    Ray's store: tokens come from ``tokens_file`` (a mounted secret, re-read when it changes) or
    ``STYLECLOAK_TOKEN`` in the replica's environment; tokens given in code reach the replicas only as
    SHA-256 digests (:func:`sealed`)."""

    tokens: tuple[SecretStr, ...] = Field(default=(), description="Bearer tokens (code only; prefer tokens_file).")
    token_sha256: tuple[str, ...] = Field(
        default=(),
        description="SHA-256 (hex) of accepted bearer tokens: what the replicas receive instead of the tokens.",
    )
    tokens_file: Path | None = Field(default=None, description="File with one bearer token per line.")
    allow_anonymous: bool = Field(default=False, description="Serve without any token (local experiments only).")
    max_request_bytes: int = Field(default=DEFAULT_MAX_BYTES + MULTIPART_OVERHEAD, gt=0, description="Beyond → 413.")
    request_timeout_s: float = Field(default=300.0, gt=0, description="Sync cloak: beyond → 504.")
    job_timeout_s: float = Field(default=3600.0, gt=0, description="A job running longer ends failed.")
    job_attempts: int = Field(default=3, ge=1, description="Dispatches of a job whose worker died, before failing.")
    job_stale_s: float = Field(default=60.0, gt=0, description="No heartbeat for this long: another replica resumes.")
    heartbeat_s: float = Field(default=5.0, gt=0)
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After sent with 503 when queues are full.")
    max_steps: int = Field(default=500, ge=1, le=MAX_STEPS, description="Largest `steps` a caller may ask for.")
    body_timeout_s: float = Field(
        default=DEFAULT_BODY_TIMEOUT_S, gt=0, description="Seconds a request body may take to arrive; beyond → 408."
    )
    body_idle_timeout_s: float = Field(
        default=DEFAULT_BODY_IDLE_TIMEOUT_S,
        gt=0,
        description="Seconds a request body may stall between two chunks; beyond → 408.",
    )
    store: str = Field(
        default="",
        description="Job state and results: a folder (file:// or a path; one node only) or s3://bucket/prefix. "
        "Empty: a private folder of this user (0700, owner checked) under the user cache.",
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO…); None for AWS.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="stylecloak Settings fields for every replica (on top of STYLECLOAK_*)."
    )
    worker: CloakWorkerConfig = CloakWorkerConfig()
    ingress: IngressConfig = IngressConfig()

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(Settings.model_fields)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for secret in SECRET_SETTINGS & set(value):
            where = "tokens_file or STYLECLOAK_TOKEN" if secret == "token" else f"STYLECLOAK_{secret.upper()}"
            raise ValueError(f"{secret} is a secret: put it in {where}, not in settings (they are stored in Ray)")
        return value

    @field_validator("token_sha256")
    @classmethod
    def _digests(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for digest in value:
            if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
                raise ValueError("token_sha256 holds lowercase hex SHA-256 digests (64 characters)")
        return value

    def sealed(self) -> AppConfig:
        """This config with ``tokens`` replaced by their digests: what may travel to Ray (deployment
        arguments end up in Ray's store, readable by anyone who can reach it)."""
        if not self.tokens:
            return self
        digests = tuple(token_digest(secret.get_secret_value()) for secret in self.tokens if secret.get_secret_value())
        return self.replace(tokens=(), token_sha256=(*self.token_sha256, *digests))

    def replace(self, **changes: Any) -> AppConfig:
        """A validated copy with ``changes`` applied (nested models replaced whole)."""
        data = self.model_dump()
        data.update(changes)
        return type(self).model_validate(data)

    def engine_settings(self) -> Settings:
        """The replica's Settings: its environment (``STYLECLOAK_*``) with ``settings`` on top."""
        return Settings(**self.settings)

    def http_timeout_s(self) -> float:
        # The proxy's own timeout sits above ours, so a slow cloak gets our typed 504, not a bare 408.
        return self.request_timeout_s + 30


def cpu_config(**changes: Any) -> AppConfig:
    """A single-machine CPU profile (``stylecloak serve``): no GPUs, one worker per ``cpus`` cores."""
    cpus = max(1, os.cpu_count() or 1)
    worker = CloakWorkerConfig(
        num_gpus=0,
        num_cpus=cpus,
        replicas=1,
        max_batch_size=4,
        max_ongoing_requests=8,
        max_queued_requests=32,
    )
    return AppConfig(worker=worker, ingress=IngressConfig(replicas=1, num_cpus=0)).replace(**changes)


def cluster_config() -> AppConfig:
    """The GPU cluster profile in ``serve/serve_config.yaml``: autoscaled GPU workers, S3 job store."""
    return AppConfig(
        tokens_file=CLUSTER_TOKENS_FILE,
        store="s3://stylecloak-jobs/jobs",
        settings={"device": "cuda"},
        worker=CloakWorkerConfig(num_gpus=1, num_cpus=4, autoscaling=Autoscaling(min_replicas=1, max_replicas=8)),
    )


def app_args(config: AppConfig) -> dict[str, Any]:
    """``config`` as the plain ``args:`` mapping of a Serve config file (every field, no secrets)."""
    # Tokens live in tokens_file or the environment; a config file carries neither them nor their digests.
    args: dict[str, Any] = config.model_dump(mode="json", exclude={"tokens", "token_sha256"})
    return args


def deploy_document(config: AppConfig, *, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> dict[str, Any]:
    """The ``serve deploy`` document for ``config`` (host 0.0.0.0: reachable inside a cluster)."""
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port, "request_timeout_s": config.http_timeout_s()},
        "applications": [
            {
                "name": APP_NAME,
                "route_prefix": "/",
                "import_path": IMPORT_PATH,
                "args": app_args(config),
            }
        ],
    }


def render_yaml(config: AppConfig) -> str:
    import yaml

    header = (
        "# Generated from stylecloak.serve.config.cluster_config(); do not edit by hand.\n"
        "# Regenerate: python -m stylecloak.serve.config --write   (a test checks they match)\n"
        "# Deploy: serve deploy serve/serve_config.yaml   (args: validated by stylecloak.serve.config.AppConfig)\n"
    )
    body: str = yaml.safe_dump(deploy_document(config), sort_keys=False)
    return header + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylecloak.serve.config", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"Write {CONFIG_FILE.name} next to this module.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if the checked-in file is out of date.")
    args = parser.parse_args(argv)
    text = render_yaml(cluster_config())
    if args.write:
        CONFIG_FILE.write_text(text)
    elif args.check:
        if not CONFIG_FILE.is_file() or CONFIG_FILE.read_text() != text:
            print(f"{CONFIG_FILE} is out of date; run: python -m stylecloak.serve.config --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
