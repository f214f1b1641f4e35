"""Which image format a byte string holds, from its first bytes only.

The middleware decides whether a part is an image by these signatures alone: a filename or a declared
content type is whatever the client chose to send, so neither is trusted.
"""

from __future__ import annotations

#: Bytes the middleware reads from a part before deciding whether it is an image.
SNIFF_BYTES = 32

_ISO_BMFF_BRANDS = {
    b"avif": "AVIF",
    b"avis": "AVIF",
    b"heic": "HEIF",
    b"heix": "HEIF",
    b"hevc": "HEIF",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
}


def sniff(head: bytes) -> str | None:
    """The Pillow-style format name of the image whose data starts with ``head``, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        return _ISO_BMFF_BRANDS.get(head[8:12])
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "JXL"
    if head[:2] == b"BM" and len(head) >= 14:
        return "BMP"
    if head[:4] == b"8BPS":
        return "PSD"
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "ICO"
    if head[:4] == b"qoif":
        return "QOI"
    return None
