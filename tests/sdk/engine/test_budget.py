from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from stylecloak import errors
from stylecloak.engine import budget, metrics
from stylecloak.models import device
from stylecloak.settings import Settings


def test_ssim_known_answers() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 48, 48)
    assert torch.allclose(metrics.ssim(x, x), torch.ones(2), atol=1e-5)
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    assert bool((metrics.ssim(noisy, x) < 0.9).all())
    assert metrics.psnr(x, x) == float("inf")


@pytest.mark.parametrize("strip_rows", [1, 7, metrics.STRIP_ROWS, 10_000])
def test_ssim_in_strips_is_the_same_ssim(strip_rows: int) -> None:
    # The full-size check measures in strips; it must be the budget's own SSIM, not an approximation
    # (strips that do not divide the rows, and one strip holding them all).
    torch.manual_seed(0)
    x = torch.rand(2, 3, 300, 257)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    assert torch.allclose(metrics.ssim_full(y, x, strip_rows), metrics.ssim(y, x), atol=1e-6)
    smallest = torch.rand(1, 1, metrics.SSIM_WINDOW, 40)
    assert torch.allclose(metrics.ssim_full(smallest, x[:1, :1, :11, :40]), metrics.ssim(smallest, x[:1, :1, :11, :40]))
    with pytest.raises(ValueError, match="at least 11 px"):
        metrics.ssim_full(x[..., :10, :], y[..., :10, :])


def test_the_ssim_budgets_full_size_distance_is_its_own_distance() -> None:
    # Measured in strips at any size, with no downscaled copy (tests/sdk/engine/test_cloaker.py has the 6 MP case).
    torch.manual_seed(0)
    x = torch.rand(1, 3, 96, 128)
    y = (x + 0.1 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    ssim_budget = budget.SSIMBudget()
    assert float(ssim_budget.full_size(y, x)[0]) == pytest.approx(float(ssim_budget.distance(y, x)[0]), abs=1e-6)


def test_latent_shift_known_answers() -> None:
    z, t = torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2)
    assert float(metrics.latent_shift(z, z, t)[0]) == pytest.approx(0.0)
    assert float(metrics.latent_shift(t, z, t)[0]) == pytest.approx(1.0)
    assert float(metrics.latent_shift(t / 2, z, t)[0]) == pytest.approx(0.5)


def test_lpips_path_with_a_random_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(device="cpu")
    lp = budget.lpips_budget("alex", settings, device.resolve(settings), random_backbone=True)
    assert lp.kind == "lpips"
    x = torch.rand(1, 3, 64, 64)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)
    d = lp.distance(y, x)
    assert d.shape == (1,) and float(d.detach()[0]) > 0
    d.sum().backward()
    assert y.grad is not None and float(y.grad.abs().sum()) > 0
    assert float(lp.distance(x, x)) == pytest.approx(0.0, abs=1e-6)
    # Full size: the network on the images up to LPIPS_MAX_PIXELS, on area-downscaled copies above it.
    assert float(lp.full_size(y.detach(), x)[0]) == pytest.approx(float(d.detach()[0]), abs=1e-6)
    big_x = torch.rand(1, 3, 64, 96)
    big_y = (big_x + 0.05 * torch.randn_like(big_x)).clamp(0, 1)
    monkeypatch.setattr(budget, "LPIPS_MAX_PIXELS", 48 * 32)
    half = lp.distance(torch.nn.functional.avg_pool2d(big_y, 2), torch.nn.functional.avg_pool2d(big_x, 2))
    assert float(lp.full_size(big_y, big_x)[0]) == pytest.approx(float(half[0]), abs=1e-5)


def test_auto_falls_back_to_ssim_without_lpips_weights(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, models_dir=tmp_path)
    compute = device.resolve(settings)
    assert budget.load("auto", settings, compute).kind == "ssim"
    with pytest.raises(errors.ModelNotFoundError, match="lpips-alex"):
        budget.load("lpips", settings, compute)


def test_auto_falls_back_to_ssim_without_the_lpips_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A GPU image without the engine extra's lpips: auto must still cloak, with the SSIM budget.
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` raise ImportError
    settings = Settings(cache_dir=tmp_path, models_dir=tmp_path)
    compute = device.resolve(settings)
    assert budget.load("auto", settings, compute).kind == "ssim"
    with pytest.raises(errors.MissingExtraError, match="lpips"):
        budget.load("lpips", settings, compute)
