"""The rendered chart closes the Ray cluster: Ray token auth from a Secret, and the marker key from a Secret."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.chart import CHART, example, helm, manifests, merged, one, ray_pods, render

jsonschema = pytest.importorskip("jsonschema")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize("values", [{}, example()], ids=["defaults", "production-gpu"])
def test_the_rayservice_turns_ray_token_auth_on(values: dict[str, Any]) -> None:
    cluster = one(manifests(values), "RayService")["spec"]["rayClusterConfig"]
    # KubeRay >= 1.5.1 creates the Secret and sets RAY_AUTH_MODE/RAY_AUTH_TOKEN on every Ray container.
    assert cluster["authOptions"] == {"mode": "token"}


def test_an_existing_secret_is_named_in_auth_options() -> None:
    cluster = one(manifests({"ray": {"auth": {"secretName": "ray-token"}}}), "RayService")["spec"]["rayClusterConfig"]
    assert cluster["authOptions"] == {"mode": "token", "secretName": "ray-token"}


def test_older_operators_get_the_token_from_the_secret_in_every_ray_container() -> None:
    values = merged(example(), {"ray": {"auth": {"via": "env", "secretName": "ray-token"}}})
    docs = manifests(values)
    cluster = one(docs, "RayService")["spec"]["rayClusterConfig"]
    assert "authOptions" not in cluster
    containers = [pod["containers"][0] for pod in ray_pods(docs).values()]
    if cluster.get("enableInTreeAutoscaling"):
        containers.append(cluster["autoscalerOptions"])
    for container in containers:
        env = _env(container)
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        # From the Secret, never a literal value.
        assert "value" not in env["RAY_AUTH_TOKEN"]
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "ray-token", "key": "auth_token"}


def test_env_mode_without_a_secret_is_refused() -> None:
    with pytest.raises(Exception, match="secretName"):
        render({"ray": {"auth": {"via": "env"}}})


def test_the_schema_refuses_unknown_auth_modes() -> None:
    report = helm.lint(CHART, {"ray": {"auth": {"mode": "none"}}}, strict=True)
    assert any(message["severity"] == 3 for message in report["messages"]), report


@pytest.mark.parametrize("values", [{}, example()], ids=["defaults", "production-gpu"])
def test_every_pod_that_cloaks_reads_the_marker_key_from_the_auth_secret(values: dict[str, Any]) -> None:
    route = {"source": "s3://art/incoming/", "destination": "s3://art/public/"}
    worker = {"enabled": True, "backend": "local", "queueUrl": "https://sqs.example/q", "s3": {"routes": [route]}}
    values = merged(values, {"worker": worker})
    docs = manifests(values)
    pods = ray_pods(docs)
    # The same Secret as the API tokens (auth.secretName, default <fullname>-auth).
    auth = next(volume["secret"]["secretName"] for volume in pods["head"]["volumes"] if volume["name"] == "api-tokens")
    containers = [pod["containers"][0] for pod in pods.values()]
    containers.append(one(docs, "Deployment", "-s3-worker")["spec"]["template"]["spec"]["containers"][0])
    for container in containers:
        ref = _env(container)["STYLECLOAK_MARKER_KEY"]
        assert "value" not in ref
        assert ref["valueFrom"]["secretKeyRef"] == {"name": auth, "key": "marker_key"}


def test_the_marker_key_is_never_a_value() -> None:
    report = helm.lint(CHART, {"settings": {"marker_key": "inline"}}, strict=True)
    assert any(message["severity"] == 3 for message in report["messages"]), report
