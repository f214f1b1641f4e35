"""The owner's before/after view: the cloak's difference, amplified so it can be seen at all."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

GAIN = 10


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return ImageOps.exif_transpose(image).size


def difference(original: bytes, cloaked: bytes, gain: int = GAIN) -> bytes:
    """PNG of |cloaked − original| × ``gain`` around mid-grey, so both signs of the change show."""
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(cloaked)) as b:
        before = np.asarray(ImageOps.exif_transpose(a).convert("RGB"), dtype=np.float32)
        after = np.asarray(ImageOps.exif_transpose(b).convert("RGB"), dtype=np.float32)
    delta = np.clip(128 + (after - before) * gain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(delta).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
