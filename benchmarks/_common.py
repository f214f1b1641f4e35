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


def find_models() -> Path | None:
    """The models folder holding TAEF2: STYLECLOAK_MODELS_DIR, else ../shared/models, else ./shared/models."""
    configured = os.environ.get("STYLECLOAK_MODELS_DIR")
    candidates = [Path(configured)] if configured else []
    candidates += [MODELS, ROOT / "shared" / "models"]
    for folder in candidates:
        if (folder / "taef2" / "taef2_encoder.pth").is_file():
            return folder
    return None


def cpu() -> str:
    """The CPU model and the flags that decide the engine's speed (bfloat16 needs AVX-512 BF16 or AMX)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    shown = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model} [{' '.join(shown) or 'flags unknown'}]"


def machine() -> str:
    import torch

    return f"{cpu()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


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


def artwork(index: int, width: int = 512, height: int | None = None) -> bytes:
    """A distinct, textured PNG per index (gradients and noise, like a painting's strokes)."""
    import io

    height = height or width
    rng = np.random.default_rng(index)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    base = np.stack(
        [
            0.5 + 0.4 * np.sin(xs / (13 + index % 7) + phase[0]),
            0.5 + 0.4 * np.cos(ys / (11 + index % 5) + phase[1]),
            0.5 + 0.4 * np.sin((xs + ys) / (19 + index % 3) + phase[2]),
        ],
        axis=2,
    )
    rgb = np.clip(base + rng.normal(0, 0.06, base.shape), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray((rgb * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def table(rows: list[list[object]], header: list[str]) -> str:
    cells = [header, *[[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
