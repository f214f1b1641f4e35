"""The marker a cloaked image carries, so it is recognised and never cloaked twice — bound to its pixels.

The marker is a few properties in the ``stylecloak`` XMP namespace (in GIF also a comment): the
stylecloak version, a hash of the cloak's settings, the target style, and ``mac``, an HMAC-SHA256
keyed by the platform's secret (``STYLECLOAK_MARKER_KEY``) over those fields and the decoded pixels
of the saved file. Anyone can write the XMP properties; only the key holder can write a ``mac`` that
matches the pixels. So a marker counts only when it **verifies**:

- ``verified``: the ``mac`` matches these pixels under this key — a cloak this platform made;
- ``unverified``: marker properties without a matching ``mac`` (forged, made under another key, or
  the pixels changed since) — treated exactly as ``absent``: the image is cloaked;
- ``absent``: no marker at all.

The ``mac`` is written at the container level after encoding (:func:`seal`), so writing it changes no
pixel; pixels are hashed as the decoder returns them (mode, size, palette, raw bytes), in strips.

Without ``STYLECLOAK_MARKER_KEY`` a random key is made per process: markers then verify only in the
process that wrote them (a CLI run, one server process), and every other process re-cloaks such an
image. Platforms set the same key on every web, Serve and S3 worker (the Helm chart reads it from a
Secret).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import threading
import warnings
from dataclasses import dataclass, replace
from typing import IO, Any, Literal

from PIL import Image, UnidentifiedImageError
from stylecloak import xmp

log = logging.getLogger(__name__)

NAMESPACE = xmp.KNOWN_PREFIXES["stylecloak"]
GIF_COMMENT_PREFIX = b"stylecloak:"
#: What the ``mac`` covers and how, so a later scheme can be told apart.
SCHEME = "hmac-sha256-pixels/1"
# Rows hashed at once: bounds the copy a large image costs while it is hashed.
_STRIP_PIXELS = 1 << 20

MarkerState = Literal["verified", "unverified", "absent"]

_process_key = secrets.token_bytes(32)
_warned = threading.Event()


@dataclass(frozen=True, slots=True)
class Marker:
    version: str
    settings_hash: str
    style: str = ""
    mac: str = ""

    def xmp_properties(self) -> dict[str, xmp.XmpValue]:
        props: dict[str, xmp.XmpValue] = {
            "cloaked": "true",
            "version": self.version,
            "settings": self.settings_hash,
        }
        if self.style:
            props["style"] = self.style
        if self.mac:
            props["mac"] = self.mac
            props["scheme"] = SCHEME
        return props

    def gif_comment(self) -> bytes:
        return GIF_COMMENT_PREFIX + f"v={self.version};s={self.settings_hash};t={self.style}".encode()

    def _signed_fields(self) -> bytes:
        return json.dumps([SCHEME, self.version, self.settings_hash, self.style], separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class MarkerCheck:
    """What an image's marker turned out to be; ``marker`` is what it claims (None when absent)."""

    state: MarkerState
    marker: Marker | None = None

    @property
    def verified(self) -> bool:
        return self.state == "verified"


# ------------------------------------------------------------------------------------ the key


def key_of(source: Any = None) -> bytes:
    """The HMAC key: ``source`` (a key, a :class:`~stylecloak.settings.Settings`, or None for the
    environment's ``STYLECLOAK_MARKER_KEY``), else this process's random key."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str):
        return source.encode()
    secret = getattr(source, "marker_key", None) if source is not None else None
    if source is None:
        from stylecloak.settings import get_settings

        secret = get_settings().marker_key
    if secret is not None:
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        if value:
            return str(value).encode()
    if not _warned.is_set():
        _warned.set()
        log.warning(
            "STYLECLOAK_MARKER_KEY is not set: cloak markers verify only in this process (pid %d); "
            "set the same key on every worker so cloaked images are recognised everywhere",
            os.getpid(),
        )
    return _process_key


def _mac(key: bytes, marker: Marker, digest: bytes) -> str:
    return hmac.new(key, marker._signed_fields() + b"\0" + digest, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------ pixels


def pixel_digest(image: Image.Image) -> bytes:
    """SHA-256 of an opened image's decoded pixels (first frame as stored, before any EXIF rotation)."""
    image.load()
    digest = hashlib.sha256()
    digest.update(f"{image.mode};{image.size[0]}x{image.size[1]};".encode())
    if image.mode in ("P", "PA"):
        digest.update(bytes(image.getpalette() or []))
        digest.update(repr(image.info.get("transparency")).encode())
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        digest.update(image.crop((0, top, width, min(height, top + rows))).tobytes())
    return digest.digest()


def _digest_of(data: bytes, max_pixels: int) -> bytes | None:
    """The pixel digest of encoded ``data``, or None when it cannot be decoded within ``max_pixels``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.size[0] * image.size[1] > max_pixels:
                    return None
                return pixel_digest(image)
    except Exception:  # an unreadable image has no verifiable marker
        return None


# ------------------------------------------------------------------------------------ reading


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


def marker_of(image: Image.Image, data: bytes | None = None) -> Marker | None:
    """The marker an opened image claims (``data``: its bytes, for XMP Pillow does not expose: GIF)."""
    comment = image.info.get("comment")
    packet = xmp_packet_of(image)
    if packet is None and data is not None and image.format == "GIF":
        from stylecloak.rights.gif_tiff import gif_read

        try:
            packet = gif_read(data)
        except Exception:  # a malformed container has no readable XMP
            packet = None
    return from_metadata(
        packet.encode() if isinstance(packet, str) else packet,
        comment if isinstance(comment, bytes) else None,
    )


def _as_bytes(image: str | os.PathLike[str] | bytes | IO[bytes]) -> bytes | None:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        from stylecloak.images import read_bytes

        try:
            return read_bytes(image)
        except Exception:  # anything that is not a readable image file has no marker
            return None
    position = image.tell() if hasattr(image, "tell") else None
    try:
        data = image.read()
    finally:
        if position is not None and hasattr(image, "seek"):
            image.seek(position)
    return data if isinstance(data, bytes) else None


def read_marker(image: str | os.PathLike[str] | bytes | IO[bytes] | Image.Image) -> Marker | None:
    """The marker ``image`` (path, bytes, file or PIL image) *claims*, or None; not verified.

    Anything that is not an image has no marker: this never raises for bad input.
    """
    if isinstance(image, Image.Image):
        return marker_of(image)
    data = _as_bytes(image)
    if not data:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                return marker_of(opened, data)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None


def check(
    image: str | os.PathLike[str] | bytes | IO[bytes] | Image.Image,
    *,
    key: Any = None,
    max_pixels: int | None = None,
    data: bytes | None = None,
) -> MarkerCheck:
    """Whether ``image``'s marker is ``verified``, ``unverified`` or ``absent`` (see the module doc).

    ``key``: a key or Settings (default: ``STYLECLOAK_MARKER_KEY``, else this process's key).
    Verifying decodes the pixels (only when a marker with a ``mac`` is there), within ``max_pixels``.
    An opened PIL image is checked as it is (its caller has bounded its size); ``data``, its encoded
    bytes, finds XMP that Pillow does not expose (GIF).
    """
    if isinstance(image, Image.Image):
        claimed = marker_of(image, data)
        if claimed is None:
            return MarkerCheck("absent")
        if not claimed.mac:
            return MarkerCheck("unverified", claimed)
        try:
            digest = pixel_digest(image)
        except Exception:  # truncated or corrupt pixels cannot carry a verifiable marker
            return MarkerCheck("unverified", claimed)
        return verify(claimed, digest, key=key)
    encoded = _as_bytes(image)
    if not encoded:
        return MarkerCheck("absent")
    if max_pixels is None:
        from stylecloak.bounds import DEFAULT_MAX_PIXELS

        max_pixels = DEFAULT_MAX_PIXELS
    try:  # one open for the claim and, when there is a MAC to verify, the pixels
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(encoded)) as opened:
                if opened.size[0] * opened.size[1] > max_pixels:
                    claimed = marker_of(opened, encoded)
                    return MarkerCheck("absent") if claimed is None else MarkerCheck("unverified", claimed)
                return check(opened, key=key, data=encoded)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return MarkerCheck("absent")


def verify(claimed: Marker | None, digest: bytes | None, *, key: Any = None) -> MarkerCheck:
    """Check a claimed marker against the pixel digest of the image carrying it."""
    if claimed is None:
        return MarkerCheck("absent")
    if not claimed.mac or digest is None:
        return MarkerCheck("unverified", claimed)
    expected = _mac(key_of(key), claimed, digest)
    return MarkerCheck("verified" if hmac.compare_digest(expected, claimed.mac) else "unverified", claimed)


def is_cloaked(image: str | os.PathLike[str] | bytes | IO[bytes] | Image.Image, *, key: Any = None) -> bool:
    """Whether ``image`` carries a stylecloak marker that verifies (see :func:`check`)."""
    return check(image, key=key).verified


def from_metadata(xmp_packet: bytes | None, comment: bytes | None) -> Marker | None:
    """The marker claimed by already-extracted metadata (what :mod:`stylecloak.images` keeps)."""
    props = xmp.read_properties(xmp_packet, NAMESPACE)
    if props.get("cloaked") == "true":
        mac = props.get("mac", "") if props.get("scheme") == SCHEME else ""
        return Marker(props.get("version", ""), props.get("settings", ""), props.get("style", ""), mac)
    if comment and comment.startswith(GIF_COMMENT_PREFIX):
        return _from_gif_comment(comment)
    return None


# ------------------------------------------------------------------------------------ writing


def seal(
    data: bytes, fmt: str, marker: Marker, *, key: Any = None, reencode: Any = None, digest: bytes | None = None
) -> bytes:
    """``data`` (an encoded image) with ``marker`` and its ``mac`` over the file's own decoded pixels.

    The properties go into the container's XMP, which changes no pixel. A format whose XMP cannot
    be edited in place (AVIF) is re-encoded through ``reencode(properties) -> bytes`` and kept only
    if its pixels are the same; otherwise the marker stays unsealed (it reads as ``unverified``).
    """
    from stylecloak.errors import StylecloakError
    from stylecloak.rights import containers

    if digest is None:  # the caller decoded ``data`` already and passes its pixel digest: one decode
        digest = _digest_of(data, 1 << 62)
    if digest is None:
        return data
    sealed = replace(marker, mac=_mac(key_of(key), marker, digest))
    properties = sealed.xmp_properties()
    fmt = containers.normalise_format(fmt)
    if fmt in containers.WRITABLE:
        try:
            packet = xmp.merge_properties(containers.read_xmp(data, fmt), NAMESPACE, properties)
            return containers.write_xmp(data, fmt, packet)
        except StylecloakError:
            log.warning("could not seal the marker into a %s file; it stays unverified", fmt)
            return data
    if reencode is not None:
        again: bytes = reencode(properties)
        if _digest_of(again, 1 << 62) == digest:
            return again
        log.warning("re-encoding %s changed its pixels; the marker stays unverified", fmt)
    return data
