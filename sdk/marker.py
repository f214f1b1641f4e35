"""The marker a cloaked image carries, so it is recognised and never cloaked twice.

The marker is a few properties in the ``stylecloak`` XMP namespace (JPEG, PNG, WebP, TIFF, AVIF) or a
comment (GIF, which has no standard XMP slot in Pillow): the stylecloak version and a hash of the
cloak's settings. Reading it opens only the image header, never decodes pixels.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, UnidentifiedImageError
from stylecloak import xmp

NAMESPACE = xmp.KNOWN_PREFIXES["stylecloak"]
GIF_COMMENT_PREFIX = b"stylecloak:"


@dataclass(frozen=True, slots=True)
class Marker:
    version: str
    settings_hash: str
    style: str = ""

    def xmp_properties(self) -> dict[str, xmp.XmpValue]:
        props: dict[str, xmp.XmpValue] = {
            "cloaked": "true",
            "version": self.version,
            "settings": self.settings_hash,
        }
        if self.style:
            props["style"] = self.style
        return props

    def gif_comment(self) -> bytes:
        return GIF_COMMENT_PREFIX + f"v={self.version};s={self.settings_hash};t={self.style}".encode()


def xmp_packet_of(image: Image.Image) -> bytes | str | None:
    """The raw XMP packet of an opened image, whatever its format keeps it in."""
    info = image.info
    packet = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if packet:
        return packet  # type: ignore[no-any-return]
    tags = getattr(image, "tag_v2", None)
    if tags is not None and 700 in tags:
        value = tags[700]
        return bytes(value) if not isinstance(value, str) else value
    return None


def _from_gif_comment(comment: bytes) -> Marker | None:
    if not comment.startswith(GIF_COMMENT_PREFIX):
        return None
    fields = dict(
        part.split("=", 1)
        for part in comment[len(GIF_COMMENT_PREFIX) :].decode(errors="replace").split(";")
        if "=" in part
    )
    return Marker(fields.get("v", ""), fields.get("s", ""), fields.get("t", ""))


def marker_of(image: Image.Image) -> Marker | None:
    comment = image.info.get("comment")
    packet = xmp_packet_of(image)
    return from_metadata(
        packet.encode() if isinstance(packet, str) else packet,
        comment if isinstance(comment, bytes) else None,
    )


def read_marker(image: str | os.PathLike[str] | bytes | IO[bytes] | Image.Image) -> Marker | None:
    """The marker of ``image`` (path, bytes, file or PIL image), or None if it carries none.

    Anything that is not an image has no marker: this never raises for bad input.
    """
    if isinstance(image, Image.Image):
        return marker_of(image)
    source: Any
    if isinstance(image, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(image))
    elif isinstance(image, (str, os.PathLike)):
        source = Path(image)
    else:
        source = image
    position = source.tell() if hasattr(source, "tell") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as opened:
                return marker_of(opened)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    finally:
        if position is not None and hasattr(source, "seek"):
            source.seek(position)


def is_cloaked(image: str | os.PathLike[str] | bytes | IO[bytes] | Image.Image) -> bool:
    """Whether ``image`` carries stylecloak's marker."""
    return read_marker(image) is not None


def from_metadata(xmp_packet: bytes | None, comment: bytes | None) -> Marker | None:
    """The marker in already-extracted metadata (what :mod:`stylecloak.images` keeps)."""
    if comment and comment.startswith(GIF_COMMENT_PREFIX):
        return _from_gif_comment(comment)
    props = xmp.read_properties(xmp_packet, NAMESPACE)
    if props.get("cloaked") != "true":
        return None
    return Marker(props.get("version", ""), props.get("settings", ""), props.get("style", ""))
