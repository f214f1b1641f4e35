"""Resampling as the trainers do it, written as matrices: exact, differentiable, and cheap to chain.

Pillow's ``Image.resize`` (which torchvision's ``Resize`` calls on PIL images, and most trainers
use) is separable: each output row is a weighted sum of input rows, the weights given by a filter
kernel stretched by the scale factor when downscaling (that stretch is the antialiasing). So a
resize of an H×W image to h×w is ``A_h @ x @ A_wᵀ`` with two small matrices. Written this way:

- it matches Pillow to float precision for every filter (tests compare against Pillow);
- it is linear and differentiable, so the optimiser sees exactly what the trainer's resize leaves
  of δ, with gradients;
- resizes chain by multiplying matrices (a thumbnail upscaled again, δ upsampled to full size and
  then resized by a trainer), and a crop is a slice of rows, so one view of a large image costs a
  few small matrix products, not a full-size resize.

Filters, by the names trainers use: ``bilinear`` (triangle), ``bicubic`` (Keys, a = −0.5, as
Pillow), ``lanczos`` (3 lobes), ``area`` (box: the mean over each output pixel's footprint, as
OpenCV's INTER_AREA when downscaling).
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
from stylecloak.errors import ConfigurationError
from torch import Tensor


def _triangle(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, 1 - x, 0.0)


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _sinc(x: np.ndarray) -> np.ndarray:
    return np.sinc(x)  # sin(πx)/(πx), 1 at 0


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 3, _sinc(x) * _sinc(x / 3), 0.0)


def _box(x: np.ndarray) -> np.ndarray:
    return np.where((x > -0.5) & (x <= 0.5), 1.0, 0.0)


#: filter name → (kernel, support in input pixels at scale 1)
FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bilinear": (_triangle, 1.0),
    "bicubic": (_cubic, 2.0),
    "lanczos": (_lanczos, 3.0),
    "area": (_box, 0.5),
}


@functools.lru_cache(maxsize=256)
def weights(size_in: int, size_out: int, filter_name: str) -> np.ndarray:
    """The (size_out × size_in) matrix of a 1-D resize, as Pillow computes it (float64, rows sum to 1)."""
    if filter_name not in FILTERS:
        raise ConfigurationError(f"unknown resampling filter {filter_name!r}; known: {', '.join(FILTERS)}")
    kernel, support = FILTERS[filter_name]
    matrix = np.zeros((size_out, size_in), dtype=np.float64)
    scale = size_in / size_out
    filterscale = max(scale, 1.0)
    reach = support * filterscale
    for i in range(size_out):
        center = (i + 0.5) * scale
        low = max(int(center - reach + 0.5), 0)
        high = min(int(center + reach + 0.5), size_in)
        taps = kernel((np.arange(low, high) - center + 0.5) / filterscale)
        total = taps.sum()
        if total != 0:
            matrix[i, low:high] = taps / total
    matrix.setflags(write=False)
    return matrix


def identity(size: int) -> np.ndarray:
    return np.eye(size)


@functools.lru_cache(maxsize=64)
def _torch_matrix(key: bytes, shape: tuple[int, int], device: str, dtype: torch.dtype) -> Tensor:
    array = np.frombuffer(key, dtype=np.float64).reshape(shape).copy()
    return torch.as_tensor(array, dtype=dtype, device=device)


def as_tensor(matrix: np.ndarray, like: Tensor) -> Tensor:
    """``matrix`` on ``like``'s device and dtype (cached by content: views reuse their matrices)."""
    return _torch_matrix(np.ascontiguousarray(matrix).tobytes(), matrix.shape, str(like.device), like.dtype)


def apply(x: Tensor, rows: np.ndarray, cols: np.ndarray) -> Tensor:
    """``rows @ x @ colsᵀ`` over the last two axes of N×C×H×W ``x``: a separable linear resample.

    Only the input rows and columns the matrices touch are read, so a small crop of a large image
    costs what the crop does."""
    used_r = np.flatnonzero(np.abs(rows).sum(axis=0))
    used_c = np.flatnonzero(np.abs(cols).sum(axis=0))
    r0, r1 = (int(used_r[0]), int(used_r[-1]) + 1) if used_r.size else (0, 0)
    c0, c1 = (int(used_c[0]), int(used_c[-1]) + 1) if used_c.size else (0, 0)
    a = as_tensor(rows[:, r0:r1], x)
    b = as_tensor(cols[:, c0:c1], x)
    return torch.matmul(torch.matmul(a, x[..., r0:r1, c0:c1]), b.transpose(0, 1))


def resize(x: Tensor, size: tuple[int, int], filter_name: str) -> Tensor:
    """An image N×C×H×W in [0, 1] → (width, height) with ``filter_name``, as Pillow does it: the
    horizontal pass first, clipped to [0, 1] before the vertical pass (which is where Pillow's 8-bit
    intermediate clips the overshoot of bicubic and Lanczos), and clipped again at the end."""
    height, width = x.shape[-2:]
    if (width, height) == size:
        return x
    if width != size[0]:
        x = apply(x, identity(height), weights(width, size[0], filter_name)).clamp(0, 1)
    if height != size[1]:
        x = apply(x, weights(height, size[1], filter_name), identity(size[0])).clamp(0, 1)
    return x


def short_side_size(size: tuple[int, int], short: int) -> tuple[int, int]:
    """(width, height) scaled so the short side is ``short`` (up or down), as ``transforms.Resize(short)``:
    the long side is truncated, as torchvision computes it."""
    width, height = size
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def round_to(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """Both sides rounded down to a multiple (a bucketing trainer's grid, an encoder's stride)."""
    return max(multiple, size[0] // multiple * multiple), max(multiple, size[1] // multiple * multiple)


def scaled_area(size: tuple[int, int], area: int, multiple: int) -> tuple[int, int]:
    """An aspect bucket: the size with about ``area`` pixels and this aspect, sides on a ``multiple`` grid."""
    width, height = size
    scale = math.sqrt(area / (width * height))
    return round_to((round(width * scale), round(height * scale)), multiple)
