"""Keep the Helm chart in step with the typed configuration it deploys: one source of truth.

Two parts of ``helm/stylecloak`` are generated from stylecloak's own pydantic models, never edited
by hand:

* ``values.yaml``, the block between the ``>>> generated`` and ``<<< generated`` lines: the Serve
  application's ``args`` (``serve.app``), which are ``app_args(cluster_config())`` from
  :mod:`stylecloak.serve.config` (the same data as ``serve/serve_config.yaml``), one comment per key
  taken from the models' field descriptions;
* ``values.schema.json``, the subtrees listed in :data:`GENERATED`: the JSON schema of ``AppConfig``,
  ``Settings``, ``RightsPolicy``, the S3 worker's ``S3Config`` and polling ``WorkerConfig``, with
  every field that could hold a secret removed, so the chart refuses inline secrets and unknown keys
  exactly where the application would.

Run after changing any of those models (a test fails until you do)::

    .venv/bin/python helm/generate.py --write     # --check: exit 1 when the chart is stale
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from stylecloak.adapters.s3.config import S3Config
from stylecloak.adapters.s3.config import WorkerConfig as PollingConfig
from stylecloak.rights import RightsPolicy
from stylecloak.serve.config import AppConfig, app_args, cluster_config
from stylecloak.settings import Settings

CHART = Path(__file__).resolve().with_name("stylecloak")
VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"
COMMAND = "python helm/generate.py --write"
BEGIN = (
    f"  # >>> generated from stylecloak.serve.config.cluster_config() by helm/generate.py; edit there, then: {COMMAND}"
)
END = "  # <<< generated"
WIDTH = 110

# Fields that hold secrets (or that the chart manages itself) never become values.
SECRET_SETTINGS = {"token", "marker_key"}
CHART_SETTINGS = {"token", "marker_key", "cache_dir", "models_dir", "backend", "endpoint"}
INLINE_C2PA = {"c2pa_cert_pem", "c2pa_key_pem"}
CHART_C2PA = {"c2pa_cert", "c2pa_key", *INLINE_C2PA}
CHART_POLLING = {"queue_url", "metrics_port", "metrics_addr"}

# Comments for the generated keys whose model field has no description of its own.
EXTRA_COMMENTS = {
    "max_request_bytes": "Largest request body in bytes; beyond → 413.",
    "request_timeout_s": "Seconds a sync cloak may take; beyond → 504 (the proxy's own timeout is 30 s more).",
    "s3_endpoint_url": "S3-compatible endpoint of the job store (MinIO…); null for AWS.",
    "worker.replicas": "A fixed replica count; null autoscales (worker.autoscaling).",
    "worker.autoscaling.target_ongoing_requests": "Requests in flight per replica that autoscaling aims at.",
    "heartbeat_s": "Seconds between a running job's heartbeats in the store.",
    "worker.num_cpus": "CPUs reserved per worker replica (the GPU pod must have at least this many).",
    "worker.batch_wait_timeout_s": "Seconds a batch waits to fill before it runs anyway.",
    "worker.autoscaling": "Ray Serve autoscaling of the workers (used when replicas is null).",
    "worker.autoscaling.min_replicas": "Fewest worker replicas (0 lets the GPU pods scale away when idle).",
    "worker.autoscaling.max_replicas": "Most worker replicas (ray.gpuWorkers.maxReplicas pods must hold them).",
    "worker.autoscaling.initial_replicas": "Replicas at deploy time (null: min_replicas).",
    "worker.autoscaling.upscale_delay_s": "Seconds of sustained load before adding a replica.",
    "worker.autoscaling.downscale_delay_s": "Seconds of low load before removing a replica.",
    "worker.health_check_period_s": "Seconds between Serve health checks of a worker replica.",
    "worker.health_check_timeout_s": "A health check slower than this marks the replica unhealthy.",
    "worker.graceful_shutdown_timeout_s": "Seconds a stopping replica gets to finish its batch.",
    "worker": "The CloakWorker deployment (GPU replicas that load the models once and batch uploads).",
    "ingress": "The HTTP Ingress deployment (auth, limits, jobs; light).",
    "ingress.replicas": "Ingress replicas (fixed count).",
    "ingress.num_cpus": "CPUs reserved per ingress replica.",
    "ingress.max_ongoing_requests": "Requests one ingress replica handles at once.",
    "ingress.max_queued_requests": "Requests waiting for an ingress replica; beyond → 503.",
}


# ---------------------------------------------------------------------------------------- schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by its definition and pydantic's noise removed."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        extra = {key: value for key, value in node.items() if key in ("description",)}
        return {**target, **_inline(extra, defs)}
    out: dict[str, Any] = {}
    for key, value in node.items():
        # Defaults live in values.yaml; formats like "path" mean nothing to Helm's validator.
        if key in ("title", "default", "format", "writeOnly", "$defs"):
            continue
        if key == "properties":
            out[key] = {name: _inline(prop, defs) for name, prop in value.items()}
        else:
            out[key] = _inline(value, defs)
    return out


def model_schema(model: type[BaseModel], *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The model's JSON schema, self-contained, without the ``exclude``d fields.

    Top-level ``required`` is dropped: a section of values may be empty while its feature is off
    (the hand-written schema around it says when it must be filled in).
    """
    raw = model.model_json_schema()
    schema: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    for name in exclude:
        schema["properties"].pop(name, None)
    schema.pop("required", None)
    schema["additionalProperties"] = False
    return schema


def _location_schema() -> dict[str, Any]:
    # S3Config accepts "s3://bucket/prefix" (what people write) as well as the object form.
    return {
        "description": "A bucket and key prefix: s3://bucket/prefix/ (or {bucket, prefix}).",
        "anyOf": [
            {"type": "string", "pattern": "^s3://[^/]+(/.*)?$"},
            {
                "type": "object",
                "properties": {"bucket": {"type": "string"}, "prefix": {"type": "string"}},
                "required": ["bucket"],
                "additionalProperties": False,
            },
        ],
    }


def _without_nullable(node: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option != {"type": "null"}]
        if len(options) == 1:
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            return {**options[0], **rest}
    return node


def app_schema() -> dict[str, Any]:
    """``serve.app``: AppConfig without its inline ``tokens``; its ``settings`` typed as Settings."""
    schema = model_schema(AppConfig, exclude={"tokens", "token_sha256"})
    description = schema["properties"]["settings"].get("description")
    settings = model_schema(Settings, exclude=SECRET_SETTINGS)
    schema["properties"]["settings"] = {**settings, "description": description}
    return schema


def settings_schema() -> dict[str, Any]:
    """``settings``: the STYLECLOAK_* environment of every pod, less what the chart sets itself."""
    return model_schema(Settings, exclude=CHART_SETTINGS)


def rights_schema() -> dict[str, Any]:
    """``rights.policy``: STYLECLOAK_RIGHTS_* for every pod; the C2PA credentials come from a Secret."""
    return model_schema(RightsPolicy, exclude=CHART_C2PA)


def s3_schema() -> dict[str, Any]:
    """``worker.s3``: the worker's routing file (S3Config), no inline C2PA key or certificate."""
    schema = model_schema(S3Config)
    route = schema["properties"]["routes"]["items"]
    for name in ("source", "destination"):
        route["properties"][name] = _location_schema()
    route["properties"]["archive"] = {"anyOf": [_location_schema(), {"type": "null"}]}
    rights = route["properties"]["rights"]
    for option in rights["anyOf"]:
        for name in INLINE_C2PA:
            option.get("properties", {}).pop(name, None)
    schema["properties"]["routes"].pop("minItems", None)  # required only while the worker is enabled
    return schema


def polling_schema() -> dict[str, Any]:
    """``worker.polling``: the worker's polling flags (its WorkerConfig, less what the chart sets)."""
    schema = model_schema(PollingConfig, exclude=CHART_POLLING)
    schema["properties"] = {name: _without_nullable(prop) for name, prop in schema["properties"].items()}
    return schema


GENERATED: dict[tuple[str, ...], Any] = {
    ("properties", "serve", "properties", "app"): app_schema,
    ("properties", "settings"): settings_schema,
    ("properties", "rights", "properties", "policy"): rights_schema,
    ("properties", "worker", "properties", "s3"): s3_schema,
    ("properties", "worker", "properties", "polling"): polling_schema,
}


def render_schema(current: dict[str, Any]) -> str:
    schema = copy.deepcopy(current)
    for path, build in GENERATED.items():
        node = schema
        for key in path[:-1]:
            node = node[key]
        generated = build()
        generated["$comment"] = f"generated by helm/generate.py; run: {COMMAND}"
        node[path[-1]] = generated
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------- values


def _scalar(value: Any) -> str:
    text = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text[1:-1]


def _comment(text: str, indent: int) -> list[str]:
    pad = " " * indent
    flat = " ".join(text.split())
    return [f"{pad}# {line}" for line in textwrap.wrap(flat, WIDTH - indent - 2)]


def _describe(model: type[BaseModel] | None, name: str, path: str) -> str:
    if path in EXTRA_COMMENTS:
        return EXTRA_COMMENTS[path]
    field = model.model_fields.get(name) if model is not None else None
    if field is not None and field.description:
        return field.description
    raise ValueError(f"no description for {path}: add one to the model's Field or to EXTRA_COMMENTS")


def _emit(data: dict[str, Any], model: type[BaseModel] | None, indent: int, prefix: str) -> list[str]:
    lines: list[str] = []
    for name, value in data.items():
        path = f"{prefix}{name}"
        lines += _comment(_describe(model, name, path), indent)
        field = model.model_fields.get(name) if model is not None else None
        annotation = field.annotation if field is not None else None
        nested: type[BaseModel] | None = None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested = annotation
        elif name == "settings" and model is AppConfig:
            nested = Settings
        if isinstance(value, dict) and value:
            lines.append(f"{' ' * indent}{name}:")
            lines += _emit(value, nested, indent + 2, f"{path}.")
        else:
            lines.append(f"{' ' * indent}{name}: {_scalar(value)}")
    return lines


def values_block() -> str:
    args = app_args(cluster_config())
    lines = [BEGIN]
    lines += _comment(
        "The Serve application's args (stylecloak.serve.config.AppConfig; defaults: cluster_config()). "
        "They become the RayService's serveConfigV2 and are validated by values.schema.json here and by "
        "the app at start-up. Resources, batching, queues and autoscaling of both deployments live here.",
        2,
    )
    lines.append("  app:")
    lines += _emit(args, AppConfig, 4, "")
    lines.append(END)
    return "\n".join(lines) + "\n"


def render_values(current: str) -> str:
    lines = current.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(BEGIN.split(" by ")[0])]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{VALUES} must hold exactly one generated block (lines starting {BEGIN[:40]!r} … {END!r})")
    return "".join(lines[: starts[0]]) + values_block() + "".join(lines[ends[0] + 1 :])


# ---------------------------------------------------------------------------------------- main


def rendered() -> dict[Path, str]:
    """What the generated files should hold now."""
    return {
        VALUES: render_values(VALUES.read_text()),
        SCHEMA: render_schema(json.loads(SCHEMA.read_text())),
    }


def stale() -> list[Path]:
    return [path for path, text in rendered().items() if path.read_text() != text]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python helm/generate.py", description=__doc__)
    parser.add_argument("--write", action="store_true", help="Rewrite the generated parts of the chart.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if the chart is out of date.")
    args = parser.parse_args(argv)
    if args.write:
        for path, text in rendered().items():
            path.write_text(text)
        return 0
    if args.check:
        paths = stale()
        for path in paths:
            print(f"{path} is out of date; run: {COMMAND}", file=sys.stderr)
        return 1 if paths else 0
    sys.stdout.write(values_block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
