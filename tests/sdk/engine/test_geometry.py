"""Grids: a thumbnail reaches the extractor as a mimic's training pipeline would feed it."""

from __future__ import annotations

import torch
from stylecloak.engine.geometry import Grid, resize


def _gradient(width: int, height: int) -> torch.Tensor:
    xs = torch.linspace(0, 1, width).expand(height, width)
    ys = torch.linspace(0, 1, height)[:, None].expand(height, width)
    return torch.stack([xs, ys, (xs + ys) / 2])[None]


def test_a_thumbnail_is_scaled_up_to_the_uploads_working_grid() -> None:
    grid = Grid.plan((960, 662), 512)
    x = _gradient(960, 662)
    thumbnail = resize(x, (400, 276))
    working, from_thumbnail = grid.working_of(x), grid.working_of(thumbnail)
    assert working.shape == from_thumbnail.shape == (1, 3, grid.padded[1], grid.padded[0])
    # Resized, not padded: a smooth image looks the same from either copy.
    assert float((working - from_thumbnail).abs().max()) < 0.02


def test_a_small_uploads_thumbnail_is_scaled_to_the_upload() -> None:
    grid = Grid.plan((300, 200), 512)
    assert grid.scaled == (300, 200)
    thumbnail = resize(_gradient(300, 200), (150, 100))
    assert grid.working_of(thumbnail).shape[-2:] == (grid.padded[1], grid.padded[0])


def test_a_long_strip_costs_what_a_four_to_one_image_costs() -> None:
    ordinary = Grid.plan((4000, 3000), 512)
    assert ordinary.scaled == (683, 512)  # the short side rule alone
    strip = Grid.plan((500, 128000), 512)
    assert strip.scaled[0] * strip.scaled[1] <= 4 * 512**2
    assert strip.render[0] * strip.render[1] <= 4 * 1024**2
    assert abs(strip.scaled[1] / strip.scaled[0] - 256) < 2  # the same shape, only smaller
    assert Grid.plan((64, 1_000_000), 512).padded[0] >= 8
