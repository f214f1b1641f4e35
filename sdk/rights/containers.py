"""Read and replace the XMP packet inside an encoded image, never touching the compressed pixels.

Each format keeps XMP in its own slot, and we edit only that slot:

- JPEG: an APP1 segment starting ``http://ns.adobe.com/xap/1.0/\\0`` (placed after JFIF/Exif).
- PNG: an uncompressed ``iTXt`` chunk with keyword ``XML:com.adobe.xmp``, before the first IDAT,
  with its CRC.
- WebP: a RIFF ``XMP `` chunk; a simple (VP8/VP8L-only) file is turned into the extended layout with
  a ``VP8X`` header carrying the XMP (and alpha) flag and the canvas size; the RIFF size is fixed.
- GIF and TIFF: see :mod:`stylecloak.rights.gif_tiff`.
- AVIF keeps XMP as an item of its ISOBMFF ``meta`` box, addressed by byte offsets that every later
  box depends on; rewriting it safely means rewriting the box tree, so we read it but do not write it.
"""

from __future__ import annotations

import io
import struct
import zlib

from stylecloak.errors import InvalidImageError, UnsupportedImageError
from stylecloak.rights import gif_tiff

JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
# A JPEG segment holds at most 65535 bytes including its 2-byte length; the XMP spec caps the packet
# at 65502 bytes (standard XMP) so the namespace header fits.
JPEG_MAX_PACKET = 65502
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
PNG_MAX_INFLATED = 16 * 1024 * 1024  # a compressed XMP chunk may not inflate past this (zip bombs)
VP8X_XMP = 0x04
VP8X_ALPHA = 0x10

WRITABLE = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")


def _malformed(fmt: str, why: str) -> InvalidImageError:
    return InvalidImageError(f"not a well-formed {fmt} file: {why}")


# ---------------------------------------------------------------------------------------- JPEG


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """``(marker, start, end)`` of every segment before the scan data, and where the scan starts."""
    if not data.startswith(b"\xff\xd8"):
        raise _malformed("JPEG", "no SOI marker")
    segments: list[tuple[int, int, int]] = []
    pos = 2
    while True:
        while pos + 2 < len(data) and data[pos] == 0xFF and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise _malformed("JPEG", f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: everything after is entropy-coded
            return segments, pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            segments.append((marker, pos, pos + 2))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise _malformed("JPEG", f"segment 0x{marker:02X} at byte {pos} runs past the end")
        segments.append((marker, pos, end))
        pos = end


def _jpeg_read(data: bytes) -> bytes | None:
    segments, _ = _jpeg_segments(data)
    for marker, start, end in segments:
        if marker == 0xE1 and data.startswith(JPEG_XMP_HEADER, start + 4):
            return data[start + 4 + len(JPEG_XMP_HEADER) : end]
    return None


def _jpeg_write(data: bytes, packet: bytes) -> bytes:
    if len(packet) > JPEG_MAX_PACKET:
        raise UnsupportedImageError(
            f"the XMP packet is {len(packet)} bytes; one JPEG segment holds {JPEG_MAX_PACKET} (extended XMP "
            "is not written)"
        )
    segments, _ = _jpeg_segments(data)
    segment = b"\xff\xe1" + struct.pack(">H", 2 + len(JPEG_XMP_HEADER) + len(packet)) + JPEG_XMP_HEADER + packet
    xmp_segments = [(s, e) for m, s, e in segments if m == 0xE1 and data.startswith(JPEG_XMP_HEADER, s + 4)]
    if xmp_segments:
        # Replace the first standard-XMP segment in place; a second one would be invalid, so drop it.
        out = bytearray()
        cursor = 0
        for index, (start, end) in enumerate(xmp_segments):
            out += data[cursor:start]
            if index == 0:
                out += segment
            cursor = end
        out += data[cursor:]
        return bytes(out)
    # Conventional place: after the leading JFIF (APP0) and Exif (APP1) segments.
    insert_at = 2
    for marker, _start, end in segments:
        if marker not in (0xE0, 0xE1):
            break
        insert_at = end
    return data[:insert_at] + segment + data[insert_at:]


# ----------------------------------------------------------------------------------------- PNG


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, end)`` of every chunk, ``start`` at its length field."""
    if not data.startswith(PNG_SIGNATURE):
        raise _malformed("PNG", "no PNG signature")
    chunks: list[tuple[bytes, int, int]] = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise _malformed("PNG", f"truncated chunk header at byte {pos}")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise _malformed("PNG", f"chunk {kind!r} at byte {pos} runs past the end")
        chunks.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR":
        raise _malformed("PNG", "IHDR is not the first chunk")
    return chunks


def _png_xmp_text(body: bytes) -> bytes | None:
    """The XMP of an iTXt chunk body, or None if the chunk is some other text."""
    keyword, sep, rest = body.partition(b"\x00")
    if keyword != PNG_XMP_KEYWORD or not sep or len(rest) < 2:
        return None
    compressed, _method, rest = rest[0], rest[1], rest[2:]
    _language, _, rest = rest.partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if not compressed:
        return text
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(text, PNG_MAX_INFLATED)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else inflated


def _png_read(data: bytes) -> bytes | None:
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt":
            text = _png_xmp_text(data[start + 8 : end - 4])
            if text is not None:
                return text
    return None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_write(data: bytes, packet: bytes) -> bytes:
    chunks = _png_chunks(data)
    # keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translated keyword, NUL.
    new_chunk = _png_chunk(b"iTXt", PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)
    out = bytearray(data[: len(PNG_SIGNATURE)])
    inserted = False
    for kind, start, end in chunks:
        if kind == b"iTXt" and _png_xmp_text(data[start + 8 : end - 4]) is not None:
            continue  # the old packet: replaced by the new chunk before IDAT
        if kind in (b"IDAT", b"IEND") and not inserted:
            out += new_chunk
            inserted = True
        out += data[start:end]
    if not inserted:
        raise _malformed("PNG", "no IDAT chunk")
    out += data[chunks[-1][2] :]
    return bytes(out)


# ---------------------------------------------------------------------------------------- WebP


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise _malformed("WebP", "no RIFF/WEBP header")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + size > end:
            raise _malformed("WebP", f"chunk {kind!r} at byte {pos} runs past the end")
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    if not chunks:
        raise _malformed("WebP", "no chunks")
    return chunks


def _webp_canvas(kind: bytes, payload: bytes) -> tuple[int, int, bool]:
    """Width, height and whether alpha is used, from a VP8 or VP8L bitstream header."""
    if kind == b"VP8 ":
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a":
            raise _malformed("WebP", "bad VP8 frame header")
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if len(payload) < 5 or payload[0] != 0x2F:
        raise _malformed("WebP", "bad VP8L header")
    (bits,) = struct.unpack("<I", payload[1:5])
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)


def _webp_read(data: bytes) -> bytes | None:
    for kind, payload in _webp_chunks(data):
        if kind == b"XMP ":
            return payload
    return None


def _webp_write(data: bytes, packet: bytes) -> bytes:
    chunks = [(kind, payload) for kind, payload in _webp_chunks(data) if kind != b"XMP "]
    first_kind, first = chunks[0]
    if first_kind == b"VP8X":
        if len(first) < 10:
            raise _malformed("WebP", "short VP8X chunk")
        chunks[0] = (b"VP8X", bytes([first[0] | VP8X_XMP]) + first[1:])
    elif first_kind in (b"VP8 ", b"VP8L"):
        width, height, alpha = _webp_canvas(first_kind, first)
        flags = VP8X_XMP | (VP8X_ALPHA if alpha else 0)
        canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", bytes([flags, 0, 0, 0]) + canvas))
    else:
        raise _malformed("WebP", f"unexpected first chunk {first_kind!r}")
    # Chunk order of the extended format: VP8X, ICCP, ANIM, image data, EXIF, XMP, then unknown chunks.
    known = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"}
    position = max(index for index, (kind, _) in enumerate(chunks) if kind in known) + 1
    chunks.insert(position, (b"XMP ", packet))
    body = io.BytesIO()
    for kind, payload in chunks:
        body.write(kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b""))
    return b"RIFF" + struct.pack("<I", 4 + body.tell()) + b"WEBP" + body.getvalue()


# ------------------------------------------------------------------------------------ dispatch


def _avif_read(data: bytes) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["AVIF"]) as image:
            packet = image.info.get("xmp")
    except (OSError, ValueError, SyntaxError):
        return None
    return packet.encode() if isinstance(packet, str) else packet


_READERS = {
    "JPEG": _jpeg_read,
    "PNG": _png_read,
    "WEBP": _webp_read,
    "GIF": gif_tiff.gif_read,
    "TIFF": gif_tiff.tiff_read,
    "AVIF": _avif_read,
}
_WRITERS = {
    "JPEG": _jpeg_write,
    "PNG": _png_write,
    "WEBP": _webp_write,
    "GIF": gif_tiff.gif_write,
    "TIFF": gif_tiff.tiff_write,
}


def normalise_format(fmt: str) -> str:
    upper = fmt.upper()
    return {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF"}.get(upper, upper)


def read_xmp(data: bytes, fmt: str) -> bytes | None:
    """The raw XMP packet of ``data`` (a ``fmt`` file), or None if it has none."""
    reader = _READERS.get(normalise_format(fmt))
    if reader is None:
        raise UnsupportedImageError(f"reading XMP from {fmt} is not supported")
    return reader(data)


def write_xmp(data: bytes, fmt: str, packet: bytes) -> bytes:
    """``data`` with its XMP packet replaced by ``packet`` (or added); the pixel data is not touched."""
    writer = _WRITERS.get(normalise_format(fmt))
    if writer is None:
        raise UnsupportedImageError(f"writing XMP into {fmt} is not supported without re-encoding")
    return writer(data, packet)
