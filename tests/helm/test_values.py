"""values.yaml is documented line by line; values.schema.json refuses wrong types, unknown keys,
inline secrets and values that could never run; no rendered manifest ever carries a secret."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helm.chart import CHART, example, helm, manifests, merged, one, ray_pods, render, walk

ROUTE = {"source": "s3://art/incoming/", "destination": "s3://art/public/"}
SECRET = "sk-live-7f3a9c1e5b2d4f6a8c0e"  # what a token looks like; must never reach a manifest
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"


def refused(values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmError) as caught:
        render(values)
    return str(caught.value)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"serve": {"port": "8000"}}, "port"),
        ({"serve": {"app": {"worker": {"max_batch_size": "eight"}}}}, "max_batch_size"),
        ({"serve": {"app": {"worker": {"num_gpus": -1}}}}, "num_gpus"),
        ({"serve": {"app": {"worker": {"autoscaling": {"max_replica": 4}}}}}, "max_replica"),
        ({"serve": {"app": {"stor": "s3://b/jobs"}}}, "stor"),
        ({"serve": {"app": {"settings": {"intensity": "extreme"}}}}, "intensity"),
        ({"settings": {"devices": "cuda"}}, "devices"),
        ({"settings": {"working_resolution": 32}}, "working_resolution"),
        ({"settings": {"cache_dir": "/elsewhere"}}, "cache_dir"),  # the chart owns it
        ({"rights": {"policy": {"use": "maybe"}}}, "use"),
        ({"ray": {"gpuWorkers": {"gpus": "1"}}}, "gpus"),
        ({"ray": {"gpuWorkers": {"maxReplica": 4}}}, "maxReplica"),
        ({"ray": {"head": {"rayStartParams": {"num-cpus": 0}}}}, "num-cpus"),
        ({"ray": {"version": 2.6}}, "version"),
        ({"models": {"source": "s3"}}, "source"),
        ({"models": {"source": "volume"}}, "volume"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"replicaCount": 3}, "replicaCount"),
        ({"worker": {"enabled": True, "s3": {"routes": [ROUTE]}}}, "queueUrl"),
        ({"worker": {"enabled": True, "queueUrl": "https://sqs/q"}}, "routes"),
        ({"worker": {"s3": {"routes": [{**ROUTE, "orignal": "archive"}]}}}, "orignal"),
        ({"worker": {"s3": {"routes": [{**ROUTE, "source": "art/incoming/"}]}}}, "source"),
        ({"worker": {"polling": {"concurrency": 0}}}, "concurrency"),
        ({"worker": {"polling": {"queue_url": "https://sqs/q"}}}, "queue_url"),
        ({"worker": {"backend": "lambda"}}, "backend"),
        ({"keda": {"enabled": True}}, "awsRegion"),
        ({"networkPolicy": {"enabled": "yes"}}, "enabled"),
    ],
)
def test_schema_refuses_wrong_types_and_unknown_keys(values: dict[str, Any], where: str) -> None:
    message = refused(values)
    assert where in message, message


@pytest.mark.parametrize(
    "values",
    [
        {"serve": {"app": {"tokens": [SECRET]}}},
        {"serve": {"app": {"settings": {"token": SECRET}}}},
        {"settings": {"token": SECRET}},
        {"rights": {"policy": {"c2pa_key_pem": KEY_PEM}}},
        {"worker": {"s3": {"routes": [{**ROUTE, "rights": {"c2pa_key_pem": KEY_PEM}}]}}},
        {"ray": {"extraEnv": [{"name": "AWS_SECRET_ACCESS_KEY", "value": SECRET}]}},
        {"worker": {"extraEnv": [{"name": "STYLECLOAK_TOKEN", "value": SECRET}]}},
        {"auth": {"secretName": KEY_PEM}},
        {"cloudCredentials": {"secretName": SECRET.upper()}},
    ],
)
def test_schema_refuses_inline_secrets(values: dict[str, Any]) -> None:
    refused(values)


def test_schema_is_valid_draft_7_and_accepts_the_shipped_values() -> None:
    """Independent of Helm's validator: the schema is well formed and the defaults and example pass."""
    import json

    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    # Helm drops null-valued keys before validating; do the same.
    defaults["serve"]["app"] = {k: v for k, v in defaults["serve"]["app"].items() if v is not None}
    for values in (defaults, merged(defaults, example())):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]
        assert not errors, errors
    assert not validator.is_valid(merged(defaults, {"settings": {"token": SECRET}}))


def test_secret_references_are_accepted() -> None:
    reference = {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "minio", "key": "secret"}}}
    docs = manifests({"ray": {"extraEnv": [reference]}})
    assert reference in ray_pods(docs)["head"]["containers"][0]["env"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ray": {"gpuWorkers": {"gpus": 0}}}, "num_gpus (1) exceeds ray.gpuWorkers.gpus (0)"),
        ({"ray": {"gpuWorkers": {"resources": {"limits": {"cpu": "3500m"}}}}}, "num_cpus (4) exceeds"),
        (
            {
                "worker": {
                    "enabled": True,
                    "queueUrl": "q",
                    "s3": {"routes": [ROUTE]},
                    "polling": {"shutdown_grace_s": 90},
                }
            },
            "must exceed worker.polling.shutdown_grace_s",
        ),
    ],
)
def test_values_that_could_never_run_fail_at_render_time(values: dict[str, Any], message: str) -> None:
    assert message in refused(values)


def test_fractional_cpu_limits_that_fit_are_accepted() -> None:
    docs = manifests({"ray": {"gpuWorkers": {"resources": {"limits": {"cpu": "4500m"}}}}})
    assert ray_pods(docs)["worker"]["containers"][0]["resources"]["limits"]["cpu"] == "4500m"


def test_values_yaml_is_documented_line_by_line() -> None:
    """Every key in values.yaml outside a list has a comment line right above it."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    list_indent: int | None = None  # keys inside a list item are data (tolerations…), not settings
    for number, line in enumerate(lines, 1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if list_indent is not None and indent > list_indent:
            continue
        list_indent = indent if stripped.startswith("- ") else None
        if list_indent is not None or not re.match(r"[\w./-]+:", stripped):
            continue
        previous = lines[number - 2].strip() if number > 1 else ""
        if not previous.startswith("#"):
            undocumented.append(f"{number}: {line}")
    assert not undocumented, "undocumented keys:\n" + "\n".join(undocumented)


def production_with_recognisable_secret_names() -> dict[str, Any]:
    return merged(
        example(),
        {
            "auth": {"secretName": "api-tokens-7f3a"},
            "cloudCredentials": {"secretName": "cloud-keys-7f3a"},
            "rights": {"c2pa": {"secretName": "c2pa-signer-7f3a"}},
            "imagePullSecrets": ["registry-login-7f3a"],
            "worker": {"backend": "local"},
            "serve": {"app": {"tokens_file": None}},
        },
    )


# Where the name of a Secret may appear in a manifest: only as a reference.
REFERENCE_PATHS = (
    ("secret", "secretName"),
    ("secretKeyRef", "name"),
    ("secretRef", "name"),
    ("imagePullSecrets",),
)


def test_rendered_manifests_only_reference_secrets() -> None:
    values = production_with_recognisable_secret_names()
    docs = manifests(values)
    assert not [doc for doc in docs if doc["kind"] == "Secret"], "the chart must never create a Secret"
    names = {"api-tokens-7f3a", "cloud-keys-7f3a", "c2pa-signer-7f3a", "registry-login-7f3a"}
    seen: set[str] = set()
    for doc in docs:
        for path, value in walk(doc):
            if isinstance(value, str) and any(name in value for name in names):
                parents = tuple(part for part in path if isinstance(part, str))
                assert value in names, f"{doc['kind']} {'.'.join(map(str, path))}: a secret name inside {value!r}"
                assert any(
                    parents[-len(ref) :] == ref or (ref == ("imagePullSecrets",) and "imagePullSecrets" in parents)
                    for ref in REFERENCE_PATHS
                ), path
                seen.add(value)
    assert seen == names  # each one is referenced somewhere
    for text in render(values).values():
        for marker in ("BEGIN PRIVATE KEY", "BEGIN CERTIFICATE", SECRET, "AKIA"):
            assert marker not in text


def test_secret_looking_environment_variables_are_references_or_file_paths() -> None:
    docs = manifests(production_with_recognisable_secret_names())
    containers = [c for spec in ray_pods(docs).values() for c in spec["containers"] + spec.get("initContainers", [])]
    containers += one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    checked = 0
    for container in containers:
        for env in container.get("env", []):
            if re.search(r"TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|KEY|PEM", env["name"]):
                checked += 1
                assert "valueFrom" in env or env["value"].startswith("/var/run/secrets/"), env
    assert checked >= 4  # STYLECLOAK_TOKEN and the C2PA key paths on the Ray pods and the worker
    config = one(docs, "ConfigMap", "-settings")["data"]
    assert not [key for key in config if re.search(r"TOKEN|SECRET|PEM", key)]


def test_serve_config_carries_no_tokens() -> None:
    text = one(manifests(), "RayService")["spec"]["serveConfigV2"]
    assert "tokens:" not in text and "tokens_file: /var/run/secrets/stylecloak/tokens" in text
