"""The typed configuration, the checked-in serve_config.yaml made from it, and token auth."""

from __future__ import annotations

import os
import time

import pytest
import yaml
from stylecloak.errors import ConfigurationError, UnauthorizedError
from stylecloak.serve.auth import TokenAuth
from stylecloak.serve.config import (
    CONFIG_FILE,
    IMPORT_PATH,
    AppConfig,
    CloakWorkerConfig,
    cluster_config,
    cpu_config,
    main,
    render_yaml,
)
from stylecloak.settings import Settings


def test_checked_in_serve_config_is_generated_from_the_model() -> None:
    assert CONFIG_FILE.read_text() == render_yaml(cluster_config()), (
        "serve/serve_config.yaml is stale: run python -m stylecloak.serve.config --write"
    )
    assert main(["--check"]) == 0


def test_serve_config_args_validate_back_into_the_model() -> None:
    document = yaml.safe_load(CONFIG_FILE.read_text())
    application = document["applications"][0]
    assert application["import_path"] == IMPORT_PATH and document["http_options"]["host"] == "0.0.0.0"
    assert "deployments" not in application  # resources live in args only: one source of truth
    config = AppConfig.model_validate(application["args"])
    assert config == cluster_config()
    assert config.worker.num_gpus == 1 and "autoscaling_config" in config.worker.deployment_options()
    assert document["http_options"]["request_timeout_s"] > config.request_timeout_s


def test_cpu_profile_never_asks_for_a_gpu() -> None:
    config = cpu_config(tokens=["t"])
    worker = config.worker.deployment_options()
    assert worker["ray_actor_options"]["num_gpus"] == 0 and worker["num_replicas"] == 1
    assert config.ingress.deployment_options()["ray_actor_options"]["num_gpus"] == 0
    assert worker["max_ongoing_requests"] >= config.worker.max_batch_size


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        CloakWorkerConfig(max_batch_size=8, max_ongoing_requests=4)
    with pytest.raises(ValueError, match="unknown settings"):
        AppConfig(settings={"no_such_setting": 1})
    with pytest.raises(ValueError, match="tokens_file"):
        AppConfig(settings={"token": "secret"})
    with pytest.raises(ConfigurationError, match="no bearer token"):
        TokenAuth.from_config(AppConfig(), Settings())
    assert "very-secret" not in render_yaml(cpu_config(tokens=["very-secret"]))


def test_token_auth(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "tokens"
    secret.write_text("# rotated monthly\nold-token\n\nnew-token\n")
    auth = TokenAuth(("static",), tokens_file=secret)
    for good in ("Bearer static", "Bearer old-token", "bearer new-token"):
        auth.check(good)
    for bad in (None, "", "Bearer", "Bearer nope", "Basic static", "Bearer static2", "Bearer old"):
        with pytest.raises(UnauthorizedError):
            auth.check(bad)
    secret.write_text("newer-token\n")
    os.utime(secret, (time.time() + 5, time.time() + 5))  # a rotated secret: picked up without a restart
    auth.check("Bearer newer-token")
    with pytest.raises(UnauthorizedError):
        auth.check("Bearer old-token")
    with pytest.raises(ConfigurationError):
        TokenAuth(tokens_file=tmp_path / "missing")
    TokenAuth(anonymous=True).check(None)


def test_cli_prints_the_cluster_config(capsys: pytest.CaptureFixture[str]) -> None:
    from stylecloak.cli import main as cli

    assert cli(["serve", "--print-config"]) == 0
    assert capsys.readouterr().out == render_yaml(cluster_config())
    assert cli(["serve", "--replicas", "0"]) == 1  # a typed error, printed, before Ray is started
