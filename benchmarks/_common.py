"""Shared by the benchmarks: find the shared art, build settings, print aligned tables."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT.parent / "shared" / "art"
MODELS = ROOT.parent / "shared" / "models"


def ensure_models_dir() -> None:
    if "STYLECLOAK_MODELS_DIR" not in os.environ and (MODELS / "taef2").is_dir():
        os.environ["STYLECLOAK_MODELS_DIR"] = str(MODELS)


def machine() -> str:
    import torch

    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def art_crop(size: int, name: str = "starry_night.jpg") -> Image.Image:
    """A size×size crop of a shared painting (resized so its short side is ``size``), or a texture."""
    path = ART / name
    if path.is_file():
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        scale = size / min(image.size)
        image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))))
        return image.crop((0, 0, size, size))
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))


def table(rows: list[list[object]], header: list[str]) -> str:
    cells = [header, *[[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
