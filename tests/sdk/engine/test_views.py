"""Mimic views: each is made as its trainer makes it, and the shift at a view keeps its one definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from stylecloak.engine import views
from stylecloak.engine.style_transfer import LatentStats, adain
from stylecloak.errors import ConfigurationError

from tests.conftest import painting


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1) / 255)[None]


def test_a_view_is_the_trainers_resize_crop_and_flip() -> None:
    rgb = painting(300, 200, seed=1)
    view = views.View("t", "test", short=128, filter="bilinear")
    expected = Image.fromarray(rgb).resize((192, 128), Image.Resampling.BILINEAR)  # torchvision: int(128 * 1.5)
    seen = view(_tensor(rgb))
    assert seen.shape == (1, 3, 128, 192)
    assert float((seen[0].permute(1, 2, 0) - torch.from_numpy(np.asarray(expected) / 255)).abs().max()) <= 1.5 / 255
    assert torch.equal(seen * 255, (seen * 255).round())  # the 8-bit file a trainer loads
    cropped = views.View("c", "test", short=128, crop=True, flip=True)(_tensor(rgb))
    assert cropped.shape == (1, 3, 128, 128)
    assert torch.equal(cropped, seen[..., :, 32:160].flip(-1))


def test_sizes_land_on_the_extractors_grid_and_native_is_capped() -> None:
    own = views.View("n", "test")
    assert own.window(own.resized((1023, 641))) == (1016, 640)
    assert own.resized((6000, 4000)) == (3072, views.NATIVE_MAX_SHORT)
    bucket = views.View("b", "test", short=1024, bucket=64)
    resized = bucket.resized((1024, 640))
    window = bucket.window(resized)
    assert window[0] % 64 == 0 and window[1] % 64 == 0
    assert window[0] <= resized[0] and window[1] <= resized[1]
    assert window[0] * window[1] <= 1024 * 1024


def test_standard_views_cover_each_resolution_and_the_images_own_size() -> None:
    names = [view.name for view in views.standard((256, 512))]
    assert names == [f"{r}/{f}" for r in ("256", "512", "native") for f in ("bilinear", "bicubic")]
    assert views.STANDARD[0] == "512/bilinear" and "native/bicubic" in views.STANDARD
    assert all(views.get(name).name == name for name in (*views.STANDARD, *views.EXTENDED))


def test_the_optimisers_profile_holds_every_resolution_and_the_deliveries() -> None:
    slots = views.mimic_profile((512, 1024))
    shorts = [{view.short for view in slot} for slot in slots]
    assert shorts[:3] == [{512}, {1024}, {None}]
    assert {view.delivery for view in slots[3]} == {"jpeg75", "jpeg85", "webp80"}
    assert any(view.flip for view in slots[0]) and any(not view.flip for view in slots[0])


def test_shift_is_zero_for_the_original_and_positive_toward_the_target() -> None:
    x = _tensor(painting(160, 128, seed=2))

    def encode(image: torch.Tensor) -> torch.Tensor:  # a fixed linear "extractor": 8× average pooling
        return torch.nn.functional.avg_pool2d(image, 8)

    stats = LatentStats(np.array([0.9, 0.1, 0.5], np.float32), np.array([0.05, 0.05, 0.05], np.float32))
    at = views.standard((64, 96))
    same = views.shifts(encode, x, x.clone(), at, lambda _v, z: adain(z, stats))
    assert all(abs(value) < 1e-6 for value in same.values())
    toward = x.clone()
    toward[:, 0] = (toward[:, 0] + 0.2).clamp(0, 1)  # red up, as the target asks
    moved = views.shifts(encode, x, toward, at, lambda _v, z: adain(z, stats))
    assert all(value > 0.05 for value in moved.values()), moved
    mean, worst = views.summary(moved, list(moved))
    assert worst <= mean and worst == min(moved.values())


def test_unknown_views_and_filters_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="1024/nearest"):
        views.get("1024/nearest")
    with pytest.raises(ConfigurationError, match="filter"):
        views.register(views.View("x", "test", 512, "nearest"))
    with pytest.raises(ConfigurationError, match="jpeg74"):
        views.register(views.View("y", "test", 512, delivery="jpeg74"))


def test_gradient_reaches_the_image_through_every_mimic_view() -> None:
    """The trainer's 8-bit rounding is straight-through: a view that stops the gradient leaves δ at its start."""
    x = torch.rand(1, 3, 96, 120, requires_grad=True)
    for slot in views.mimic_profile((96, 128)):
        for view in slot:
            (grad,) = torch.autograd.grad(view(x, np.random.default_rng(0)).sum(), x)
            assert float(grad.abs().sum()) > 0, view.name
