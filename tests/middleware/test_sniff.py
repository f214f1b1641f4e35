"""Formats come from the bytes: every format Pillow writes here, and things that are not images."""

from __future__ import annotations

import pytest
from PIL import features
from stylecloak.middleware.sniff import SNIFF_BYTES, sniff

from tests.conftest import encoded, painting

FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "ICO"] + (["AVIF"] if features.check("avif") else [])


@pytest.mark.parametrize("fmt", FORMATS)
def test_images_are_recognised_from_their_first_bytes(fmt: str) -> None:
    data = encoded(painting(96, 80), fmt)
    assert sniff(data[:SNIFF_BYTES]) == fmt


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"%PDF-1.7\n", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"PK\x03\x04zip", b"\xff\xd8"],
)
def test_other_bytes_are_not_images(data: bytes) -> None:
    assert sniff(data) is None
