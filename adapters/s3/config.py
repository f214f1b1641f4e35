"""Routing configuration of the S3 adapters: which uploads are cloaked, and where the results go.

A :class:`Route` maps a watched source (bucket + prefix) to a destination (bucket + prefix), with the
checks an upload must pass, the headers the output gets and what happens to the original. An
:class:`S3Config` holds the routes and the connection settings; it refuses at construction any
configuration that could loop (an output or archived original landing on a watched key) or publish
an original (an archive inside the destination).

Sources of configuration, one function each: :func:`config_from_env` (``STYLECLOAK_S3_*``, what the
Lambda handler uses), :func:`load_config` (a JSON file), and the worker's command-line flags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from stylecloak.bounds import DEFAULT_MAX_BYTES
from stylecloak.errors import ConfigurationError
from stylecloak.options import CloakOptions
from stylecloak.rights import RightsPolicy
from stylecloak.settings import Intensity, Quality

ENV_PREFIX = "STYLECLOAK_S3_"
DEFAULT_CONTENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/tiff",
    "image/avif",
    # What browsers and SDKs send when nobody set a type; the engine checks the bytes anyway.
    "application/octet-stream",
    "binary/octet-stream",
)
DEFAULT_CACHE_CONTROL = "public, max-age=86400"
DEFAULT_ARTIST_METADATA = "artist-id"


class Location(BaseModel):
    """A bucket and a key prefix; written ``s3://bucket/prefix/`` in configuration."""

    model_config = ConfigDict(frozen=True)

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_location(value)
        return value

    def contains(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix)

    def overlaps(self, other: Location) -> bool:
        """True when some key could be inside both locations."""
        return self.bucket == other.bucket and (
            self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        )

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_location(url: str) -> dict[str, str]:
    if not url.startswith("s3://"):
        raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return {"bucket": bucket, "prefix": prefix}


class Route(BaseModel):
    """Objects created under ``source`` are cloaked into ``destination`` (same relative key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Location = Field(description="Watched bucket and prefix (where uploads land).")
    destination: Location = Field(description="Where cloaked outputs are written (the public prefix).")
    original: Literal["keep", "archive"] = Field(
        default="keep", description="keep the original in place, or move it to `archive` after the output is written."
    )
    archive: Location | None = Field(default=None, description="Private prefix for originals (original=archive).")
    content_types: tuple[str, ...] = Field(
        default=DEFAULT_CONTENT_TYPES, description="Accepted Content-Type values of uploads; `image/*` allowed."
    )
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0, description="Larger uploads are dead-lettered.")
    copy_metadata: bool = Field(default=True, description="Copy the upload's x-amz-meta-* onto the output.")
    copy_tags: bool = Field(default=True, description="Copy the upload's object tags onto the output.")
    cache_control: str | None = Field(default=DEFAULT_CACHE_CONTROL, description="Cache-Control of the output.")
    artist_metadata: str = Field(
        default=DEFAULT_ARTIST_METADATA,
        description="x-amz-meta-* key holding the artist id (keeps one target style per artist).",
    )
    already_cloaked: Literal["skip", "publish"] = Field(
        default="skip", description="An upload that already carries the marker: skip it, or copy it as it is."
    )
    intensity: Intensity | None = Field(default=None, description="Cloak intensity (else the client's setting).")
    quality: Quality | None = Field(default=None, description="Cloak quality (else the client's setting).")
    target_style: str | None = Field(default=None, description="Force one target style (normally per artist).")
    steps: int | None = Field(default=None, gt=0, description="Override optimisation steps (tests, experiments).")
    rights: RightsPolicy | None = Field(
        default_factory=RightsPolicy,
        description='"Do not train" signals (IPTC/PLUS XMP, C2PA) written into outputs; None turns them off.',
    )

    @field_validator("content_types")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item.strip().lower() for item in value)

    @model_validator(mode="after")
    def _safe(self) -> Route:
        if self.destination.overlaps(self.source):
            raise ValueError(
                f"destination {self.destination.url()} overlaps source {self.source.url()}: outputs would be re-cloaked"
            )
        if self.original == "archive":
            if self.archive is None:
                raise ValueError("original='archive' needs an archive location")
            if self.archive.overlaps(self.source):
                raise ValueError(f"archive {self.archive.url()} overlaps source {self.source.url()}")
            if self.archive.overlaps(self.destination):
                raise ValueError(f"archive {self.archive.url()} overlaps destination: originals would be public")
        elif self.archive is not None:
            raise ValueError("an archive location is set but original='keep'")
        try:
            self.cloak_options()
        except ConfigurationError as exc:
            raise ValueError(exc.message) from exc
        return self

    def relative(self, key: str) -> str:
        return key[len(self.source.prefix) :]

    def output_key(self, key: str) -> str:
        return self.destination.prefix + self.relative(key)

    def archive_key(self, key: str) -> str:
        assert self.archive is not None
        return self.archive.prefix + self.relative(key)

    def accepts_type(self, content_type: str | None) -> bool:
        kind = (content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
        for allowed in self.content_types:
            if allowed == kind or (allowed.endswith("/*") and kind.startswith(allowed[:-1])):
                return True
        return False

    def cloak_options(self) -> CloakOptions:
        """The route's options of every cloak (its ``rights`` are passed beside them)."""
        return CloakOptions.build(
            intensity=self.intensity, quality=self.quality, target_style=self.target_style, steps=self.steps
        )


class S3Config(BaseModel):
    """Routes plus how to reach S3 and the dead-letter queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: tuple[Route, ...] = Field(min_length=1)
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, Ceph, R2, moto…).")
    sqs_endpoint_url: str | None = Field(default=None, description="SQS-compatible endpoint (ElasticMQ, moto…).")
    region: str | None = Field(default=None, description="Region (else AWS_REGION / the boto3 default chain).")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="S3 addressing; many S3-compatible servers need path."
    )
    max_attempts: int | None = Field(default=None, ge=1, description="boto3 attempts per call (None: its default).")
    conditional_writes: bool = Field(
        default=True,
        description="Conditional PUTs (If-None-Match/If-Match) so racing duplicates write once; off if unsupported.",
    )
    dlq_url: str | None = Field(default=None, description="SQS queue that receives dead-lettered events with reasons.")

    @model_validator(mode="after")
    def _no_loops(self) -> S3Config:
        for route in self.routes:
            for watched in self.routes:
                for written in (route.destination, route.archive):
                    if written is not None and written.overlaps(watched.source):
                        raise ValueError(f"{written.url()} is written by one route and watched by another")
        # An archive holds private originals: no other route may publish into it or archive there too
        # (the same key from two sources would overwrite one original with the other).
        for index, route in enumerate(self.routes):
            if route.archive is None:
                continue
            for other in self.routes[:index] + self.routes[index + 1 :]:
                for written in (other.destination, other.archive):
                    if written is not None and written.overlaps(route.archive):
                        raise ValueError(f"{written.url()} overlaps the archive {route.archive.url()} of another route")
        return self

    def route_for(self, bucket: str, key: str) -> Route | None:
        """The first route watching ``bucket``/``key``."""
        for route in self.routes:
            if route.source.contains(bucket, key):
                return route
        return None

    def watched(self, bucket: str, key: str) -> bool:
        return self.route_for(bucket, key) is not None


class WorkerConfig(BaseModel):
    """How the SQS worker polls, how long it may hold a message, and when it gives up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue_url: str
    concurrency: int = Field(default=2, ge=1, le=64, description="Messages processed at once.")
    wait_time_s: int = Field(default=10, ge=0, le=20, description="SQS long-poll wait.")
    visibility_timeout_s: int = Field(
        default=60, ge=2, le=43_200, description="Hold on a message; extended while a cloak runs."
    )
    max_receives: int = Field(default=5, ge=1, description="Receives after which a failing message is dead-lettered.")
    retry_delay_s: float = Field(default=5.0, ge=0, description="First retry delay; doubles per receive.")
    shutdown_grace_s: float = Field(default=25.0, ge=0, description="On SIGTERM: time to finish before releasing.")
    metrics_port: int | None = Field(default=None, ge=0, le=65_535, description="Serve Prometheus metrics here.")
    metrics_addr: str = "0.0.0.0"


def build(model: type[BaseModel], data: Mapping[str, Any], origin: str) -> Any:
    """Validate ``data`` into ``model``; a bad configuration is a :class:`ConfigurationError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise ConfigurationError(
            f"invalid S3 adapter configuration ({origin}): {where + ': ' if where else ''}{first['msg']}",
            detail=str(exc),
        ) from exc


def load_config(path: str | os.PathLike[str]) -> S3Config:
    """An :class:`S3Config` from a JSON file (the same shape as the model)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the S3 configuration {source}: {exc}") from exc
    config: S3Config = build(S3Config, data, str(source))
    return config


def config_from_env(environ: Mapping[str, str] | None = None) -> S3Config:
    """An :class:`S3Config` from ``STYLECLOAK_S3_*`` variables.

    ``STYLECLOAK_S3_CONFIG`` names a JSON file; otherwise ``STYLECLOAK_S3_ROUTES`` (a JSON list of
    routes) or one route from ``STYLECLOAK_S3_SOURCE``, ``_DESTINATION`` and ``_ARCHIVE``. Connection
    settings: ``_ENDPOINT_URL``, ``_SQS_ENDPOINT_URL``, ``_REGION``, ``_DLQ_URL``, ``_ADDRESSING_STYLE``,
    ``_MAX_ATTEMPTS``, ``_CONDITIONAL_WRITES``. Routes without their own ``rights`` get the policy of
    ``STYLECLOAK_RIGHTS_*`` (:meth:`RightsPolicy.from_env`), or none with ``STYLECLOAK_S3_RIGHTS=off``.
    """
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        return env.get(ENV_PREFIX + name) or None

    path = get("CONFIG")
    if path:
        return load_config(path)
    data: dict[str, Any] = {}
    routes = get("ROUTES")
    if routes:
        try:
            data["routes"] = json.loads(routes)
        except ValueError as exc:
            raise ConfigurationError(f"{ENV_PREFIX}ROUTES is not JSON: {exc}") from exc
    elif get("SOURCE") or get("DESTINATION"):
        route: dict[str, Any] = {"source": get("SOURCE"), "destination": get("DESTINATION")}
        if get("ARCHIVE"):
            route.update(original="archive", archive=get("ARCHIVE"))
        data["routes"] = [route]
    else:
        raise ConfigurationError(
            f"no S3 routes configured: set {ENV_PREFIX}SOURCE and {ENV_PREFIX}DESTINATION (or _ROUTES, _CONFIG)"
        )
    rights_off = (get("RIGHTS") or "on").lower() in {"off", "0", "false", "no", "none"}
    default_rights = None if rights_off else RightsPolicy.from_env(env)
    for route_data in data["routes"]:
        if isinstance(route_data, dict) and "rights" not in route_data:
            route_data["rights"] = default_rights
    for field in ("endpoint_url", "sqs_endpoint_url", "region", "dlq_url", "addressing_style", "max_attempts"):
        value = get(field.upper())
        if value is not None:
            data[field] = value
    conditional = get("CONDITIONAL_WRITES")
    if conditional is not None:
        data["conditional_writes"] = conditional.lower() not in {"0", "false", "no", "off"}
    config: S3Config = build(S3Config, data, "environment")
    return config


def config_from_flags(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> S3Config:
    """An :class:`S3Config` from the worker command's flags (``stylecloak worker s3``; None = not given).

    The routes come from ``config`` (a JSON file), else ``source``/``destination``/``archive`` (one
    route), else the environment (:func:`config_from_env`); the connection flags (``s3_endpoint_url``,
    ``sqs_endpoint_url``, ``region``, ``addressing_style``, ``max_attempts``, ``dlq``,
    ``no_conditional_writes``) and the per-route cloak flags (``intensity``, ``quality``, ``steps``) go
    on top.
    """
    given = {key: value for key, value in flags.items() if value is not None}
    data: dict[str, Any]
    if given.get("config"):
        data = load_config(given["config"]).model_dump()
    elif given.get("source") or given.get("destination"):
        route: dict[str, Any] = {"source": given.get("source"), "destination": given.get("destination")}
        if given.get("archive"):
            route.update(original="archive", archive=given["archive"])
        data = {"routes": [route]}
    else:
        data = config_from_env(environ).model_dump()
    connection = {
        "endpoint_url": "s3_endpoint_url",
        "sqs_endpoint_url": "sqs_endpoint_url",
        "region": "region",
        "addressing_style": "addressing_style",
        "max_attempts": "max_attempts",
        "dlq_url": "dlq",
    }
    data.update({field: given[flag] for field, flag in connection.items() if flag in given})
    if given.get("no_conditional_writes"):
        data["conditional_writes"] = False
    per_route = {key: given[key] for key in ("intensity", "quality", "steps") if key in given}
    for route_data in data["routes"]:
        route_data.update(per_route)
    config: S3Config = build(S3Config, data, "command line")
    return config


#: Worker command flag → :class:`WorkerConfig` field.
WORKER_FLAGS = {
    "queue": "queue_url",
    "concurrency": "concurrency",
    "wait_time": "wait_time_s",
    "visibility_timeout": "visibility_timeout_s",
    "max_receives": "max_receives",
    "retry_delay": "retry_delay_s",
    "shutdown_grace": "shutdown_grace_s",
    "metrics_port": "metrics_port",
    "metrics_addr": "metrics_addr",
}


def worker_config_from_flags(flags: Mapping[str, Any]) -> WorkerConfig:
    """The worker command's polling flags → :class:`WorkerConfig` (None = the model's default)."""
    if not flags.get("queue"):
        raise ConfigurationError(f"no queue: pass --queue URL (or set {ENV_PREFIX}QUEUE_URL)")
    data = {field: flags[flag] for flag, field in WORKER_FLAGS.items() if flags.get(flag) is not None}
    config: WorkerConfig = build(WorkerConfig, data, "command line")
    return config
