"""Grids: where the cloak is computed, where it is judged, and how it gets back to full size.

Three sizes per image:

- **full**: the upload itself; the perturbation is finally resized to it.
- **render**: the image as the optimiser pictures the platform seeing it: full size, capped at
  ``render_cap`` on the short side so cost stays bounded. The platform's transformations
  (re-encoding, resizing) are applied here, so the optimiser accounts for what resampling and
  codecs do to the perturbation.
- **working**: what the feature extractor sees: short side at most ``working_resolution`` (what a
  mimic's training pipeline resizes to), edge-padded to a multiple of the extractor's stride. The
  perturbation δ is a tensor of this size, and the perceptual budget is measured here. A transformed
  copy of another size (a thumbnail) is resized to it too, as the mimic's pipeline would.

Both capped grids also hold at most ``MAX_ASPECT`` squares of their short side: a very long strip
(a webcomic, a 500×128000 PNG that compresses to a few KB) is scaled down further, so its cost is
that of a 4:1 image instead of growing with its length.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_RENDER_CAP = 1024
MAX_ASPECT = 4


def _scaled(size: tuple[int, int], short_side: int, minimum: int) -> tuple[int, int]:
    """``size`` scaled down (never up) to a short side of ``short_side`` and an area of at most
    ``MAX_ASPECT`` · ``short_side``²."""
    width, height = size
    scale = min(1.0, short_side / min(width, height), (MAX_ASPECT * short_side**2 / (width * height)) ** 0.5)
    if scale == 1.0:
        return size
    return max(minimum, round(width * scale)), max(minimum, round(height * scale))


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Antialiased bicubic resize of N×C×H×W to (width, height), as image servers and trainers do."""
    if (x.shape[-1], x.shape[-2]) == size:
        return x
    return F.interpolate(x, size=(size[1], size[0]), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def upsample(delta: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic interpolation of a perturbation to (width, height); no clamping (it is a difference)."""
    if (delta.shape[-1], delta.shape[-2]) == size:
        return delta
    return F.interpolate(delta, size=(size[1], size[0]), mode="bicubic", align_corners=False)


@dataclass(frozen=True, slots=True)
class Grid:
    full: tuple[int, int]  # (width, height)
    render: tuple[int, int]
    scaled: tuple[int, int]  # working size before padding
    padded: tuple[int, int]  # working size the extractor sees
    working_resolution: int
    multiple: int = 8

    @classmethod
    def plan(
        cls,
        size: tuple[int, int],
        working_resolution: int,
        multiple: int = 8,
        render_cap: int = DEFAULT_RENDER_CAP,
    ) -> Grid:
        render = _scaled(size, max(render_cap, working_resolution), multiple)
        scaled = _scaled(size, working_resolution, multiple)
        padded = (-(-scaled[0] // multiple) * multiple, -(-scaled[1] // multiple) * multiple)
        return cls(size, render, scaled, padded, working_resolution, multiple)

    def pad(self, x: Tensor) -> Tensor:
        pad_w, pad_h = self.padded[0] - self.scaled[0], self.padded[1] - self.scaled[1]
        if pad_w or pad_h:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x

    def crop(self, x: Tensor) -> Tensor:
        return x[..., : self.scaled[1], : self.scaled[0]]

    def to_working(self, x: Tensor) -> Tensor:
        """An image at any size with this aspect (full or render) → the padded working grid."""
        return self.pad(resize(x, self.scaled))

    def to_render(self, x_full: Tensor) -> Tensor:
        return resize(x_full, self.render)

    def delta_to(self, delta: Tensor, size: tuple[int, int]) -> Tensor:
        """A working-grid perturbation → the same perturbation at ``size`` (render or full)."""
        return upsample(self.crop(delta), size)

    def working_of(self, x: Tensor) -> Tensor:
        """The image at any size (full, render, or a transformed copy such as a thumbnail) → this
        working grid. A smaller copy is scaled up: a mimic's training pipeline resizes every image's
        short side to its resolution (diffusers' training scripts: ``transforms.Resize(resolution)``),
        so a scraped 400 px thumbnail reaches the model upscaled, not at its own size."""
        return self.to_working(x)


def to_tensor(rgb: np.ndarray, device: torch.device | None = None) -> Tensor:
    """H×W×3 float array → 1×3×H×W tensor."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(device or "cpu")


def to_array(x: Tensor) -> np.ndarray:
    """1×3×H×W tensor → H×W×3 float32 array."""
    return x[0].detach().float().cpu().permute(1, 2, 0).numpy().astype(np.float32, copy=False)
