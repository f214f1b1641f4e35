"""The chart deploys exactly what the application expects: one source of truth, checked end to end.

serveConfigV2 comes from serve.app (generated from ``cluster_config()``) and must equal
``deploy_document()`` of the same AppConfig; Ray's own schema and builder must accept it (no cluster
is started); the settings ConfigMap must read back as the same Settings; the S3 worker's command
line must parse with the real CLI into the configured routes and polling options.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from stylecloak.serve.config import (
    CLUSTER_TOKENS_FILE,
    DEFAULT_PORT,
    AppConfig,
    app_args,
    cluster_config,
    cpu_config,
    deploy_document,
)

from tests.conftest import ROOT
from tests.helm.chart import (
    CHART,
    NAMESPACE,
    example,
    generator,
    manifests,
    merged,
    one,
    ray_pods,
    serve_document,
)


def test_generated_parts_of_the_chart_are_up_to_date() -> None:
    """values.yaml's serve.app and the model-derived schema parts match the models (else: regenerate)."""
    stale = generator().stale()
    assert not stale, f"out of date: {[str(p) for p in stale]}; run: python helm/generate.py --write"


def test_generator_check_fails_when_the_values_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator()
    values = tmp_path / "values.yaml"
    values.write_text(gen.VALUES.read_text().replace("max_batch_size: 8", "max_batch_size: 9", 1))
    monkeypatch.setattr(gen, "VALUES", values)
    assert gen.stale() == [values]
    assert gen.main(["--check"]) == 1
    gen.main(["--write"])
    assert gen.stale() == [] and "max_batch_size: 8" in values.read_text()


def test_values_hold_the_cluster_profile() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["serve"]["app"] == app_args(cluster_config())
    assert values["serve"]["port"] == DEFAULT_PORT


def test_default_serve_config_is_the_cluster_profiles_deploy_document() -> None:
    rendered = serve_document(manifests())
    expected = deploy_document(cluster_config())
    args = rendered["applications"][0].pop("args")
    expected_args = expected["applications"][0].pop("args")
    assert rendered == expected  # proxy, HTTP options (host 0.0.0.0, port, timeout), name, import path
    # Helm drops null-valued keys (AppConfig's defaults for them are the same nulls) and writes 300.0 as 300.
    assert AppConfig.model_validate(args) == cluster_config()
    assert {key: value for key, value in expected_args.items() if value is not None}.keys() == args.keys()


def cpu_values() -> tuple[dict[str, Any], AppConfig]:
    """Values for a cluster without GPUs, from the Serve app's own CPU profile, and that profile."""
    config = cpu_config(tokens_file=CLUSTER_TOKENS_FILE, settings={"device": "cpu"})
    cpus = str(max(2, int(config.worker.num_cpus)))
    values = {
        "serve": {"app": app_args(config)},
        "ray": {
            "gpuWorkers": {
                "groupName": "cpu",
                "gpus": 0,
                "tolerations": [],
                "resources": {"requests": {"cpu": cpus, "memory": "4Gi"}, "limits": {"cpu": cpus, "memory": "4Gi"}},
            }
        },
    }
    return values, config


def test_cpu_profile_serve_config_is_what_ray_and_the_app_accept() -> None:
    """Parse serveConfigV2 with Ray Serve's schema and build the application from it, as the Serve
    controller does on `serve deploy` (ray.serve's builder; nothing is started)."""
    pytest.importorskip("ray.serve")
    import importlib

    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve._private.build_app import build_app as build_deployments
    from ray.serve.schema import ServeDeploySchema

    values, config = cpu_values()
    docs = manifests(values)
    document = serve_document(docs)
    assert document == {**deploy_document(config), "applications": document["applications"]}
    schema = ServeDeploySchema.model_validate(document)
    assert (schema.http_options.host, schema.http_options.port) == ("0.0.0.0", DEFAULT_PORT)
    (application,) = schema.applications
    module, _, attribute = application.import_path.partition(":")
    builder = getattr(importlib.import_module(module), attribute)
    assert AppConfig.model_validate(application.args) == config

    app = call_user_app_builder_with_args_if_necessary(builder, application.args)
    built = build_deployments(app, name=application.name, route_prefix=application.route_prefix)
    deployments = {deployment.name: deployment for deployment in built.deployments}
    assert set(deployments) == {"Ingress", "CloakWorker"} and built.ingress_deployment_name == "Ingress"
    worker = deployments["CloakWorker"]
    assert worker.ray_actor_options["num_gpus"] == 0  # a GPU request here would never be placed
    assert worker.ray_actor_options["num_cpus"] == config.worker.num_cpus
    assert worker.num_replicas == config.worker.replicas
    assert worker.max_ongoing_requests == config.worker.max_ongoing_requests
    # The pods offer what the replicas ask for.
    pods = ray_pods(docs)
    assert "nvidia.com/gpu" not in pods["worker"]["containers"][0]["resources"]["limits"]


def test_gpu_serve_config_builds_with_autoscaled_gpu_workers() -> None:
    pytest.importorskip("ray.serve")
    from ray.serve._private.build_app import build_app as build_deployments
    from stylecloak.serve import build_app

    document = serve_document(manifests(example()))
    args = document["applications"][0]["args"]
    built = build_deployments(build_app(args), name="stylecloak")
    worker = next(d for d in built.deployments if d.name == "CloakWorker")
    assert worker.ray_actor_options["num_gpus"] == 1
    autoscaling = worker._deployment_config.autoscaling_config
    assert (autoscaling.min_replicas, autoscaling.max_replicas) == (1, 16)
    assert AppConfig.model_validate(args).settings == {"device": "cuda", "dtype": "bfloat16"}


def test_tokens_file_is_where_the_secret_is_mounted() -> None:
    pods = ray_pods(manifests())
    for spec in pods.values():
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "api-tokens")
        volume = next(v for v in spec["volumes"] if v["name"] == "api-tokens")
        path = Path(mount["mountPath"]) / volume["secret"]["items"][0]["path"]
        assert path == CLUSTER_TOKENS_FILE
        assert "subPath" not in mount  # a rotated Secret must reach the running app


def test_without_a_tokens_file_the_api_reads_one_token_from_the_secret() -> None:
    pods = ray_pods(manifests({"serve": {"app": {"tokens_file": None}}}))
    container = pods["head"]["containers"][0]
    assert not [m for m in container["volumeMounts"] if m["name"] == "api-tokens"]
    token = next(e for e in container["env"] if e["name"] == "STYLECLOAK_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "stylecloak-auth", "key": "token"}


def test_serve_port_is_the_port_the_pods_expose() -> None:
    values = {"serve": {"port": 9000}}
    docs = manifests(values)
    assert serve_document(docs)["http_options"]["port"] == 9000
    for spec in ray_pods(docs).values():
        ports = {p["name"]: p["containerPort"] for p in spec["containers"][0]["ports"]}
        assert ports["serve"] == 9000  # KubeRay's serve Service targets the port named "serve"


def test_ray_version_matches_the_ray_the_app_is_built_with() -> None:
    ray = pytest.importorskip("ray")
    chart_version = yaml.safe_load((CHART / "values.yaml").read_text())["ray"]["version"]
    assert chart_version == ray.__version__
    assert one(manifests(), "RayService")["spec"]["rayClusterConfig"]["rayVersion"] == ray.__version__
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG RAY_VERSION=(\S+)$", dockerfile, re.M)[1] == chart_version  # type: ignore[index]


def test_dockerfile_installs_extras_that_exist() -> None:
    import tomllib

    from stylecloak import __version__

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = re.search(r"^ARG EXTRAS=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)[1].split(",")  # type: ignore[index]
    assert {"serve", "s3", "engine"} <= set(installed) <= set(extras)
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"] == __version__


def test_settings_configmap_reads_back_as_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylecloak.rights import RightsPolicy
    from stylecloak.settings import Settings

    settings = {
        "intensity": "high",
        "quality": "slow",
        "max_pixels": 64_000_000,  # Helm's own number printing would make this 6.4e+07
        "style_images": ["/styles/a.png", "/styles/b.png"],
        "threads": 4,
        "timeout_s": 90.5,
    }
    policy = {"use": "constrained", "constraints": "research only", "tdm_policy_url": "https://art.example/tdm"}
    data = one(manifests({"settings": settings, "rights": {"policy": policy}}), "ConfigMap", "-settings")["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    read = Settings()
    assert read == Settings(**settings)  # the same environment underneath, the values given on top
    assert read.max_pixels == 64_000_000 and read.style_images == (Path("/styles/a.png"), Path("/styles/b.png"))
    assert str(read.cache_dir) == "/var/cache/stylecloak"
    assert RightsPolicy.from_env() == RightsPolicy(**policy)


def worker_command(values: dict[str, Any], tmp_path: Path) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """The rendered worker's argv parsed by the real CLI (routing file swapped for a temp copy)."""
    from stylecloak.cli import build_parser

    docs = manifests(values)
    container = one(docs, "Deployment", "-s3-worker")["spec"]["template"]["spec"]["containers"][0]
    routes = tmp_path / "s3.json"
    routes.write_text(one(docs, "ConfigMap", "-s3")["data"]["s3.json"])
    argv = [arg.replace("/etc/stylecloak/s3.json", str(routes)) for arg in container["command"][1:] + container["args"]]
    env = {e["name"]: e.get("value", "") for e in container.get("env", []) if "value" in e}
    return build_parser().parse_args(argv), env, container


def test_worker_command_line_is_what_the_cli_accepts(tmp_path: Path) -> None:
    from stylecloak.adapters.s3.config import WorkerConfig, config_from_flags, worker_config_from_flags

    polling = {
        "concurrency": 8,
        "wait_time_s": 20,
        "visibility_timeout_s": 120,
        "max_receives": 7,
        "retry_delay_s": 2.5,
        "shutdown_grace_s": 40,
    }
    values = merged(example(), {"worker": {"polling": polling}})
    args, env, _ = worker_command(values, tmp_path)
    assert args.handler.__name__ == "run_s3"
    worker = worker_config_from_flags(vars(args))
    assert worker == WorkerConfig(queue_url=values["worker"]["queueUrl"], metrics_port=9108, **polling)
    config = config_from_flags(vars(args))
    assert config.region == "eu-west-1" and config.dlq_url.endswith("art-events-dlq")
    (route,) = config.routes
    assert (route.source.url(), route.destination.url(), route.archive.url()) == (
        "s3://art/incoming/",
        "s3://art/public/",
        "s3://art/private/",
    )
    assert route.rights is not None and route.rights.tdm_policy_url == "https://art.example/tdm-policy.json"
    assert not route.rights.has_signing_credentials  # the Serve cluster signs, with its own mounted key
    assert env["STYLECLOAK_BACKEND"] == "http"
    assert env["STYLECLOAK_ENDPOINT"] == f"http://stylecloak-serve-svc.{NAMESPACE}.svc:8000"
    spec_grace = one(manifests(values), "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert spec_grace > polling["shutdown_grace_s"]


def test_local_worker_signs_with_the_mounted_c2pa_key(tmp_path: Path) -> None:
    values = merged(example(), {"worker": {"backend": "local"}})
    values["worker"]["s3"]["routes"].append(
        {"source": "s3://art/drafts/", "destination": "s3://art/drafts-public/", "rights": None}
    )
    args, env, container = worker_command(values, tmp_path)
    from stylecloak.adapters.s3.config import config_from_flags

    signed, unsigned = config_from_flags(vars(args)).routes
    assert signed.rights is not None and signed.rights.c2pa_key == Path("/var/run/secrets/stylecloak-c2pa/key.pem")
    assert unsigned.rights is None  # `rights: null` stays off
    assert "STYLECLOAK_BACKEND" not in env and env["STYLECLOAK_RIGHTS_C2PA_KEY"].endswith("/key.pem")
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert "c2pa" in mounts


def test_serve_backend_worker_gets_no_signing_key() -> None:
    container = one(manifests(example()), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "c2pa" not in {m["name"] for m in container["volumeMounts"]}
    assert not [e for e in container["env"] if e["name"].startswith("STYLECLOAK_RIGHTS_C2PA")]


def test_routes_file_is_plain_json() -> None:
    data = one(manifests(example()), "ConfigMap", "-s3")["data"]["s3.json"]
    assert json.loads(data)["routes"][0]["original"] == "archive"
