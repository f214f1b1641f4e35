"""Inputs that are not what they claim (items 12 and 15): devices, pipes, folders, 32-bit samples.

Before: ``/dev/zero`` ran out of memory (``max_bytes`` applied only to regular files), a FIFO hung the
read for ever, and a 32-bit integer (``I``) image came back as 16-bit with every value changed.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stylecloak import images
from stylecloak.errors import ImageTooLargeError, InvalidImageError, UnsupportedImageError


@pytest.mark.timeout(60)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_without_being_read(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"{device} is not here")
    with pytest.raises(InvalidImageError, match="not a regular file"):
        images.read_bytes(device, max_bytes=1024)


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_at_once_even_with_no_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    done = threading.Event()
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            images.read_bytes(fifo)
        except BaseException as exc:
            outcome.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(10), "reading a FIFO hung"
    assert isinstance(outcome[0], InvalidImageError)


def test_a_link_to_a_device_and_a_folder_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    with pytest.raises(InvalidImageError):
        images.read_bytes(link)
    with pytest.raises(InvalidImageError, match="folder"):
        images.read_bytes(tmp_path)


def test_a_regular_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as out:
        out.truncate(10_000_000)
    with pytest.raises(ImageTooLargeError):
        images.read_bytes(big, max_bytes=1_000_000)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_32_bit_images_are_refused_not_rescaled(mode: str) -> None:
    values = np.arange(96 * 80, dtype=np.int32).reshape(80, 96) % 191  # 0–190, as in the report
    image = Image.fromarray(values.astype(np.int32 if mode == "I" else np.float32), mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF")
    with pytest.raises(UnsupportedImageError, match="save as 8- or 16-bit"):
        images.decode(buffer.getvalue())


def test_16_bit_images_keep_their_values() -> None:
    values = (np.arange(96 * 80).reshape(80, 96) * 7 % 65536).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    decoded = images.decode(buffer.getvalue())
    assert decoded.mode.startswith("I;16")
    assert np.array_equal(np.round(decoded.rgb[..., 0] * 65535).astype(np.uint16), values)
