"""The matrix resampler matches Pillow, chains exactly, and reads only what a crop needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from stylecloak.engine import resample
from stylecloak.errors import ConfigurationError

PILLOW = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


def _picture(width: int = 203, height: int = 131) -> Image.Image:
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    smooth = np.stack([np.sin(xs / 7), np.cos(ys / 5), np.sin((xs + ys) / 11)], axis=2) * 0.4 + 0.5
    edges = (xs // 17 + ys // 13) % 2 * 0.3  # hard edges, where bicubic and Lanczos overshoot
    rgb = np.clip(smooth + edges[..., None] - 0.15 + rng.normal(0, 0.03, smooth.shape), 0, 1)
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1) / 255)[None]


@pytest.mark.parametrize("name", sorted(PILLOW))
@pytest.mark.parametrize("size", [(101, 65), (330, 213), (203, 80), (150, 131)])
def test_resize_matches_pillow(name: str, size: tuple[int, int]) -> None:
    image = _picture()
    expected = np.asarray(image.resize(size, PILLOW[name]), np.float32) / 255
    ours = resample.resize(_tensor(image), size, name)[0].permute(1, 2, 0).numpy()
    difference = np.abs(ours - expected)
    # Pillow rounds to 8 bits between its two passes and at the end; nothing else differs.
    assert difference.max() <= 1.5 / 255
    assert difference.mean() <= 0.6 / 255


def test_rows_sum_to_one_and_a_crop_is_a_slice() -> None:
    rows = resample.weights(640, 1024, "bicubic")
    assert np.allclose(rows.sum(axis=1), 1)
    x = torch.rand(1, 3, 64, 640, dtype=torch.float64)
    cols = resample.weights(640, 1024, "lanczos")
    whole = resample.apply(x, np.eye(64), cols)
    part = resample.apply(x, np.eye(64)[10:30], cols[300:500])
    assert torch.allclose(whole[..., 10:30, 300:500], part)


def test_chained_resizes_are_one_matrix() -> None:
    up = resample.weights(300, 480, "bicubic")
    down = resample.weights(480, 256, "bilinear")
    x = torch.rand(1, 3, 300, 40, dtype=torch.float64)
    twice = resample.apply(resample.apply(x, up, np.eye(40)), down, np.eye(40))
    assert torch.allclose(twice, resample.apply(x, down @ up, np.eye(40)))


def test_gradients_flow_through_the_resize() -> None:
    delta = torch.zeros(1, 3, 50, 70, requires_grad=True)
    resample.apply(delta, resample.weights(50, 80, "lanczos"), resample.weights(70, 112, "lanczos")).sum().backward()
    assert delta.grad is not None and float(delta.grad.abs().sum()) > 0


def test_sizes_follow_the_trainers_arithmetic() -> None:
    assert resample.short_side_size((1024, 640), 512) == (819, 512)  # torchvision truncates the long side
    assert resample.short_side_size((640, 1024), 1024) == (1024, 1638)
    assert resample.round_to((819, 512), 8) == (816, 512)
    width, height = resample.scaled_area((1024, 640), 1024 * 1024, 64)
    assert width % 64 == 0 and height % 64 == 0 and width * height <= 1024 * 1024


def test_unknown_filter_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="nearest"):
        resample.weights(10, 5, "nearest")
