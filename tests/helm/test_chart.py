"""`helm lint --strict`, rendering, and schema validation of every manifest the chart renders."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.chart import (
    CHART,
    KUBE_VERSIONS,
    NAMESPACE,
    PRODUCTION,
    dumps,
    example,
    helm,
    manifests,
    merged,
    notes,
    one,
    ray_pods,
    rayservice_schema,
    serve_document,
)

jsonschema = pytest.importorskip("jsonschema")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

# Values that switch on every optional part of the chart, on top of the production example.
EVERYTHING = {
    "models": {"source": "volume", "volume": {"persistentVolumeClaim": {"claimName": "stylecloak-models"}}},
    "worker": {"backend": "local", "extraEnv": [{"name": "LOG_LEVEL", "value": "debug"}]},
    "ray": {"extraEnv": [{"name": "RAY_LOG_TO_STDERR", "value": "1"}]},
    "cloudCredentials": {"secretName": "minio-credentials"},
    "imagePullSecrets": ["registry-credentials"],
    "serve": {"app": {"tokens_file": None}},
}


def variants() -> dict[str, dict[str, Any]]:
    production = example()
    return {
        "defaults": {},
        "production-gpu": production,
        "everything": merged(production, EVERYTHING),
    }


VARIANTS = variants()


def test_lint_strict_passes_for_the_defaults_and_the_production_example() -> None:
    for name, values in (("defaults", None), ("production-gpu", example())):
        for version in KUBE_VERSIONS:
            report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{version}.0")
            problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
            assert report["errors"] == [] and problems == [], f"{name} on {version}: {dumps(report)}"


def test_lint_reports_values_the_schema_refuses() -> None:
    report = helm.lint(CHART, {"serve": {"port": "8000"}}, strict=True)
    assert any("port" in message["error"] for message in report["messages"] if message["severity"] == 3), report


@pytest.mark.parametrize("name", VARIANTS)
def test_core_manifests_validate_against_kubernetes(name: str) -> None:
    docs = manifests(VARIANTS[name])
    core = [doc for doc in docs if doc["apiVersion"] not in ("ray.io/v1", "keda.sh/v1alpha1")]
    assert core, "nothing rendered"
    for version in KUBE_VERSIONS:
        for doc in core:
            try:
                # strict: unknown fields fail too (kubernetes-validate's *-strict schemas).
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid on {version}: {exc.message}")


@pytest.mark.parametrize("name", VARIANTS)
def test_the_rayservice_validates_against_the_kuberay_crd(name: str) -> None:
    service = one(manifests(VARIANTS[name]), "RayService")
    validator = jsonschema.Draft202012Validator(rayservice_schema())
    errors = sorted(validator.iter_errors(service), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])


def test_the_strict_crd_schema_catches_a_misspelt_field() -> None:
    """The check above can fail: a typo that the API server would silently prune is an error here."""
    service = one(manifests(), "RayService")
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 3
    errors = list(jsonschema.Draft202012Validator(rayservice_schema()).iter_errors(service))
    assert any("maxReplica" in error.message for error in errors)


# KEDA's CRDs are not in this repository; this is the structure of the fields the chart uses
# (keda.sh/v1alpha1, KEDA 2.x docs: ScaledObject, aws-sqs-queue trigger, TriggerAuthentication).
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {
    "type": "object",
    "required": ["name", "labels"],
    "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}, "labels": _STRING_MAP},
}
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "aws-sqs-queue"},
                            "metadata": {
                                **_STRING_MAP,
                                "required": ["queueURL", "queueLength", "awsRegion"],
                                "propertyNames": {
                                    "enum": [
                                        "queueURL",
                                        "queueLength",
                                        "activationQueueLength",
                                        "awsRegion",
                                        "awsEndpoint",
                                    ]
                                },
                            },
                            "authenticationRef": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    },
}
TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "podIdentity": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["provider"],
                    "properties": {
                        "provider": {"const": "aws"},
                        "identityOwner": {"enum": ["keda", "workload"]},
                    },
                }
            },
        },
    },
}


def test_the_keda_objects_are_well_formed_and_point_at_the_worker() -> None:
    docs = manifests(VARIANTS["production-gpu"])
    scaled = one(docs, "ScaledObject")
    auth = one(docs, "TriggerAuthentication")
    jsonschema.validate(scaled, SCALED_OBJECT)
    jsonschema.validate(auth, TRIGGER_AUTHENTICATION)
    deployment = one(docs, "Deployment", "-s3-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert trigger["metadata"]["queueURL"] == example()["worker"]["queueUrl"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"


def test_keda_can_use_an_existing_trigger_authentication() -> None:
    values = merged(example(), {"keda": {"authentication": "sqs-reader"}})
    docs = manifests(values)
    assert not [doc for doc in docs if doc["kind"] == "TriggerAuthentication"]
    assert one(docs, "ScaledObject")["spec"]["triggers"][0]["authenticationRef"] == {"name": "sqs-reader"}


def test_defaults_render_only_the_serving_side() -> None:
    kinds = sorted(doc["kind"] for doc in manifests())
    assert kinds == ["ConfigMap", "Pod", "RayService", "ServiceAccount"]  # Pod: the `helm test` hook


def test_production_renders_every_part_it_enables() -> None:
    kinds = sorted(doc["kind"] for doc in manifests(VARIANTS["production-gpu"]))
    expected = ["ConfigMap", "ConfigMap", "Deployment", "Ingress", "NetworkPolicy", "NetworkPolicy", "Pod"]
    expected += ["RayService", "ScaledObject", "ServiceAccount", "TriggerAuthentication"]
    assert kinds == sorted(expected)


def test_gpu_worker_group_asks_for_gpus_on_the_gpu_pool() -> None:
    values = example()
    pods = ray_pods(manifests(values))
    head, worker = pods["head"], pods["worker"]
    for key in ("requests", "limits"):
        assert worker["containers"][0]["resources"][key]["nvidia.com/gpu"] == 1
        assert "nvidia.com/gpu" not in head["containers"][0]["resources"][key]
    assert worker["nodeSelector"] == {"node.kubernetes.io/instance-type": "g6.2xlarge"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker["tolerations"]
    cluster = one(manifests(values), "RayService")["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    group = cluster["workerGroupSpecs"][0]
    assert (group["minReplicas"], group["maxReplicas"]) == (1, 16)
    autoscaling = serve_document(manifests(values))["applications"][0]["args"]["worker"]["autoscaling"]
    assert autoscaling["max_replicas"] <= group["maxReplicas"] * 1  # one replica per GPU pod


def test_every_pod_runs_as_non_root_and_without_privileges() -> None:
    docs = manifests(VARIANTS["everything"])
    specs = [doc["spec"]["template"]["spec"] for doc in docs if doc["kind"] == "Deployment"]
    specs += list(ray_pods(docs).values())
    specs += [doc["spec"] for doc in docs if doc["kind"] == "Pod"]
    assert len(specs) == 4
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
            assert "resources" in container
    worker = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert worker["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert {
        probe: worker["containers"][0][probe]["httpGet"]["port"] for probe in ("livenessProbe", "readinessProbe")
    } == {
        "livenessProbe": "metrics",
        "readinessProbe": "metrics",
    }


def test_weights_come_from_an_init_container_or_a_volume() -> None:
    pulled = ray_pods(manifests(example()))["worker"]
    init = pulled["initContainers"][0]
    assert init["command"] + init["args"] == [
        "stylecloak",
        "models",
        "pull",
        "taef2",
        "--mirror",
        example()["models"]["mirror"],
    ]
    assert {m["mountPath"] for m in init["volumeMounts"]} >= {"/var/cache/stylecloak"}

    docs = manifests(VARIANTS["everything"])
    for spec in [*ray_pods(docs).values(), one(docs, "Deployment")["spec"]["template"]["spec"]]:
        assert "initContainers" not in spec
        volume = next(v for v in spec["volumes"] if v["name"] == "models")
        assert volume["persistentVolumeClaim"] == {"claimName": "stylecloak-models"}
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "models")
        assert mount["readOnly"] is True
    settings = one(docs, "ConfigMap", "-settings")["data"]
    assert settings["STYLECLOAK_MODELS_DIR"] == mount["mountPath"]


def test_network_policies_admit_the_api_clients_the_operator_and_ray_itself() -> None:
    docs = manifests(VARIANTS["production-gpu"])
    ray = one(docs, "NetworkPolicy", "-ray")["spec"]
    assert ray["policyTypes"] == ["Ingress"]
    api = next(rule for rule in ray["ingress"] if rule.get("ports") == [{"port": 8000, "protocol": "TCP"}])
    peers = api["from"]
    assert example()["networkPolicy"]["apiFrom"][0] in peers
    assert any(
        p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "s3-worker" for p in peers
    )
    dashboard = next(rule for rule in ray["ingress"] if {"port": 8265, "protocol": "TCP"} in rule.get("ports", []))
    assert dashboard["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kuberay-operator"
    }
    worker = one(docs, "NetworkPolicy", "-s3-worker")["spec"]
    assert worker["ingress"][0]["ports"] == [{"port": 9108, "protocol": "TCP"}]


def test_notes_tell_the_operator_how_to_reach_the_api() -> None:
    text = notes()
    assert f"kubectl -n {NAMESPACE} port-forward svc/stylecloak-serve-svc 8000:8000" in text
    assert f"http://stylecloak-serve-svc.{NAMESPACE}.svc:8000" in text
    assert "create secret generic stylecloak-auth" in text
    assert "still the example bucket" in text
    production = notes(example())
    assert "https://cloak.art.example/" in production and "example bucket" not in production
    assert "KEDA scales it between 1 and 8 replicas" in production


def test_production_example_is_the_file_the_docs_name() -> None:
    assert PRODUCTION.is_file()
    assert "helm/examples/production-gpu.yaml" in (CHART.parents[1] / "docs" / "deploy.md").read_text()
