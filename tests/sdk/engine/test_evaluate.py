"""The evaluation's metrics on cases with known answers, and the eval command end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from stylecloak.cli import main
from stylecloak.engine import transforms
from stylecloak.engine.cloaker import Cloaker
from stylecloak.engine.evaluate import Evaluator
from stylecloak.engine.geometry import to_tensor

from tests.conftest import encoded, painting


def test_identity_gives_zero_shift_under_every_transform(cloaker: Cloaker) -> None:
    x = to_tensor(painting(160, 128).astype(np.float32) / 255)
    shifts = Evaluator(cloaker).protection(x, x.clone(), "facets")
    assert set(shifts) == {"clean", *transforms.EVAL_TRANSFORMS}
    assert all(abs(value) < 1e-6 for value in shifts.values()), shifts


def test_transforms_apply_identically_to_both_sides() -> None:
    x = torch.rand(1, 3, 64, 80)
    for name in transforms.EVAL_TRANSFORMS:
        t = transforms.get(name)
        a = t(x, np.random.default_rng(3))
        b = t(x.clone(), np.random.default_rng(3))
        assert torch.equal(a, b), name
    assert transforms.get("width400")(torch.rand(1, 3, 300, 800), np.random.default_rng(0)).shape[-1] == 400


def test_a_cloak_shifts_more_than_nothing(cloaker: Cloaker) -> None:
    evaluation, result = Evaluator(
        cloaker, transform_names=["jpeg95", "scale0.5"], view_names=(), plot_resolutions=()
    ).evaluate(encoded(painting(192, 160, seed=2)), steps=8, target_style="hatching")
    assert result is not None
    assert evaluation.protection["clean"] == pytest.approx(result.report.latent_shift, abs=0.02)
    assert evaluation.protection["clean"] > 0.05
    assert evaluation.imperceptibility.ssim > 0.9 and evaluation.imperceptibility.psnr > 25
    assert evaluation.imperceptibility.lpips is None  # no LPIPS backbone weights on this machine
    assert evaluation.cost is not None and evaluation.cost.steps == 8
    assert len(evaluation.shift_by_step) == 8


def test_evaluation_without_the_lpips_package_reports_no_lpips(
    cloaker: Cloaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` raise ImportError
    evaluation, _ = Evaluator(cloaker, transform_names=["jpeg95"], view_names=(), plot_resolutions=()).evaluate(
        encoded(painting(seed=4)), steps=1, target_style="neon"
    )
    assert evaluation.imperceptibility.lpips is None and evaluation.imperceptibility.ssim > 0.9


def test_eval_command_writes_report_and_json(tmp_path: Path, fast_settings, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "art.jpg"
    source.write_bytes(encoded(painting(192, 160), "JPEG", quality=92))
    env = {"working_resolution": "128", "render_cap": "128", "budget": "ssim", "mimic_resolutions": "[128, 192]"}
    import os

    for key, value in env.items():
        os.environ[f"STYLECLOAK_{key.upper()}"] = value
    report = tmp_path / "r.html"
    code = main(["eval", str(source), "--steps", "3", "--transforms", "jpeg75", "width400",
                 "--against", "taef2", "--views", "512/crop", "--plot-resolutions", "160",
                 "--report", str(report), "--json"])  # fmt: skip
    assert code == 0
    page = report.read_text()
    assert page.startswith("<!doctype html>") and page.count("data:image/") >= 3
    payload = json.loads(report.with_suffix(".json").read_text())
    image = payload["images"][0]
    assert set(image["protection"]) == {"clean", "jpeg75", "width400"}
    assert image["transfer"]["taef2"] is not None
    assert set(image["views"]) == {*(f"{r}/{f}" for r in (128, 192, "native") for f in ("bilinear", "bicubic")),
                                   "512/crop"}  # fmt: skip
    assert image["mimic_worst"] <= image["mimic_mean"] and set(image["by_resolution"]) >= {"128", "160", "192"}
    assert "alt='latent shift against training resolution'" in page
    mean = payload["mean"]
    assert {"mimic_mean", "mimic_worst", "views", "working_grid", "ssim"} <= set(mean)
    assert "clean" in mean["working_grid"]
    # --cloaked: measure a file made earlier, style read from its marker.
    cloaked = tmp_path / "art.cloaked.jpg"
    assert main(["cloak", str(source), "-o", str(cloaked), "--steps", "2", "--target-style", "neon"]) == 0
    capsys.readouterr()
    assert main(["eval", str(source), "--cloaked", str(cloaked), "--transforms", "jpeg85", "--views",
                 "--plot-resolutions", "--json", str(tmp_path / "e.json")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "e.json").read_text())["images"][0]
    assert again["target_style"] == "neon" and again["cost"] is None
