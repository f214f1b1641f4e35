"""Before/after pictures: what a person sees, what changed, and what a model learns from each."""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from stylecloak import images
from stylecloak.engine.geometry import Grid, to_array, to_tensor
from stylecloak.images import ImageInput
from stylecloak.models.extractors import FeatureExtractor

AMPLIFY = 10.0
LABEL_HEIGHT = 28
PANEL_SHORT_SIDE = 384


def amplified_difference(original: np.ndarray, cloaked: np.ndarray, gain: float = AMPLIFY) -> np.ndarray:
    """Mid-grey where nothing changed; the change times ``gain`` elsewhere (H×W×3 in [0, 1])."""
    return np.clip(0.5 + (cloaked - original) * gain, 0, 1)


@torch.no_grad()
def model_view(extractor: FeatureExtractor, rgb: np.ndarray, grid: Grid) -> np.ndarray | None:
    """The image decoded back from the extractor's latents: what a model trained on it would learn."""
    x = grid.to_working(to_tensor(rgb, extractor.compute.device))
    decoded = extractor.decode(extractor.encode(x))
    return None if decoded is None else to_array(grid.crop(decoded))


@torch.no_grad()
def target_view(extractor: FeatureExtractor, target: torch.Tensor, grid: Grid) -> np.ndarray | None:
    decoded = extractor.decode(target)
    return None if decoded is None else to_array(grid.crop(decoded))


def _panel(rgb: np.ndarray, label: str, size: tuple[int, int]) -> Image.Image:
    picture = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8), "RGB").resize(
        size, Image.Resampling.LANCZOS
    )
    panel = Image.new("RGB", (size[0], size[1] + LABEL_HEIGHT), "white")
    panel.paste(picture, (0, LABEL_HEIGHT))
    draw = ImageDraw.Draw(panel)
    draw.text((6, 5), label, fill="black", font=ImageFont.load_default(size=16))
    return panel


def side_by_side(panels: list[tuple[str, np.ndarray]], columns: int = 3) -> Image.Image:
    """Label and lay out ``panels`` in rows of ``columns``, each scaled to the same size."""
    height, width = panels[0][1].shape[:2]
    scale = PANEL_SHORT_SIDE / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    rendered = [_panel(rgb, label, size) for label, rgb in panels]
    gap = 8
    cell_w, cell_h = rendered[0].width + gap, rendered[0].height + gap
    rows = -(-len(rendered) // columns)
    sheet = Image.new("RGB", (cell_w * min(columns, len(rendered)) - gap, cell_h * rows - gap), "white")
    for index, panel in enumerate(rendered):
        sheet.paste(panel, ((index % columns) * cell_w, (index // columns) * cell_h))
    return sheet


def compare(
    extractor: FeatureExtractor,
    original: ImageInput,
    cloaked: bytes,
    *,
    working_resolution: int = 512,
    target: torch.Tensor | None = None,
) -> Image.Image:
    """Original, cloaked, amplified difference, and the extractor's decoded view of each (and the target)."""
    before = images.decode(original, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
    after = images.decode(cloaked, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
    panels = [
        ("original", before.rgb),
        ("cloaked", after.rgb),
        (f"difference x{AMPLIFY:g}", amplified_difference(before.rgb, after.rgb)),
    ]
    grid = Grid.plan(before.size, working_resolution, extractor.multiple)
    seen_before = model_view(extractor, before.rgb, grid)
    seen_after = model_view(extractor, after.rgb, grid)
    if seen_before is not None and seen_after is not None:
        panels += [(f"{extractor.name} sees: original", seen_before), (f"{extractor.name} sees: cloaked", seen_after)]
        seen_target = target_view(extractor, target, grid) if target is not None else None
        if seen_target is not None:
            panels.append(("target style (decoded)", seen_target))
        else:
            panels.append((f"model's view changed x{AMPLIFY:g}", amplified_difference(seen_before, seen_after)))
    return side_by_side(panels)
