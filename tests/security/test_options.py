"""Numbers a caller chooses (items 4 and 10): finite and bounded at every door; never a black image.

Before: ``POST /v1/cloak?lr=inf`` answered 200 with an all-black image (NaN became 0), ``seed=-1`` or
``2**64`` a 502, and the CLI a traceback that aborted the batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from stylecloak.cli import main
from stylecloak.engine import presets
from stylecloak.engine.cloaker import check_finite
from stylecloak.errors import BudgetExceededError, CloakFailedError, ConfigurationError
from stylecloak.wire import CloakOptions

from tests.conftest import encoded, painting

BAD = [
    ("lr", math.inf),
    ("lr", 1e308),
    ("lr", math.nan),
    ("alpha", math.inf),
    ("alpha", 1e308),
    ("linf", math.nan),
    ("budget_p", -0.1),
    ("steps", 0),
    ("steps", 10**9),
    ("seed", -1),
    ("seed", 2**64),
    ("working_resolution", 10**6),
]


def resolve(**overrides: Any) -> presets.CloakParams:
    return presets.resolve(
        intensity="default",
        quality="fast",
        budget_kind="ssim",
        working_resolution=128,
        seed=0,
        extractor="taef2",
        overrides=overrides,
    )


@pytest.mark.parametrize(("name", "value"), BAD)
def test_every_cloak_refuses_out_of_range_numbers(name: str, value: float) -> None:
    with pytest.raises(ConfigurationError) as refused:
        resolve(**{name: value})
    assert refused.value.status == 400 and name in refused.value.message


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, v in BAD if n in CloakOptions.model_fields])
def test_the_wire_refuses_them_before_any_work(name: str, value: float) -> None:
    with pytest.raises(ConfigurationError):
        CloakOptions.from_query({name: str(value)})


def test_in_range_numbers_still_pass() -> None:
    params = resolve(lr=0.01, alpha=30.0, seed=2**32 - 1, steps=3)
    assert params.seed == 2**32 - 1 and params.steps == 3
    assert CloakOptions.from_query({"lr": "0.5", "seed": "0"}).lr == 0.5


def test_a_non_finite_perturbation_is_an_error_never_an_image() -> None:
    check_finite(torch.zeros(1, 3, 8, 8))
    for poison in (math.nan, math.inf):
        delta = torch.zeros(1, 3, 8, 8)
        delta[0, 1, 2, 3] = poison
        with pytest.raises(CloakFailedError):
            check_finite(delta)


def test_an_image_over_its_budget_is_an_error_not_a_success(cloaker) -> None:  # type: ignore[no-untyped-def]
    # The codec's own error at quality 90 is far above p = 0.0005: not even a faint cloak fits.
    with pytest.raises(BudgetExceededError) as refused:
        cloaker.cloak(encoded(painting(), "JPEG", quality=90), steps=2, budget_p=0.0005, target_style="hatching")
    assert refused.value.status == 422


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, cloaker) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    from stylecloak.serve.config import cpu_config
    from stylecloak.serve.local import create_local_app

    config = cpu_config(tokens=["t"], store=str(tmp_path_factory.mktemp("jobs")))
    from starlette.testclient import TestClient

    with TestClient(create_local_app(config, cloaker=cloaker), headers={"Authorization": "Bearer t"}) as client:
        yield client


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, v in BAD if n in CloakOptions.model_fields])
def test_the_api_answers_400_for_each(api: httpx.Client, name: str, value: float) -> None:
    response = api.post("/v1/cloak", params={name: str(value)}, content=encoded(painting()))
    assert response.status_code == 400 and response.json()["error"] == "configuration_error"


def test_the_cli_refuses_a_bad_seed_before_cloaking(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "a.png"
    source.write_bytes(encoded(painting()))
    for seed in ("-1", str(2**64)):
        with pytest.raises(SystemExit) as usage:
            main(["cloak", str(source), "--seed", seed])
        assert usage.value.code == 2
        assert "seed must be in [0, 4294967295]" in capsys.readouterr().err


def test_the_cli_names_bad_settings_without_a_traceback(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "a.png"
    source.write_bytes(encoded(painting()))
    monkeypatch.setenv("STYLECLOAK_SEED", "-1")
    assert main(["cloak", str(source)]) == 2
    err = capsys.readouterr().err
    assert "invalid settings: seed" in err and "Traceback" not in err
    assert not (tmp_path / "a.cloaked.png").exists()
