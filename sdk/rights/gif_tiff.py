"""XMP in GIF and TIFF files, edited at the container level (see :mod:`stylecloak.rights.containers`).

- GIF: an application extension ``XMP DataXMP`` (XMP specification, part 3) right after the global
  colour table. The packet is stored raw, followed by a 258-byte "magic trailer" (0x01, 0xFF…0x00,
  0x00) that makes readers which walk GIF sub-blocks skip it safely. A GIF87a header becomes GIF89a,
  the version that has extensions.
- TIFF: tag 700 (type BYTE) in the first IFD. The packet and a copy of that IFD with the tag set are
  appended to the file and the header is pointed at the new IFD; every other offset stays valid, so
  no strip or tile is moved. An old out-of-line packet is zeroed. Classic TIFF only (not BigTIFF).
"""

from __future__ import annotations

import struct

from stylecloak.errors import InvalidImageError, UnsupportedImageError

GIF_XMP_ID = b"XMP DataXMP"
GIF_MAGIC_TRAILER = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
TIFF_XMP_TAG = 700
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _malformed(fmt: str, why: str) -> InvalidImageError:
    return InvalidImageError(f"not a well-formed {fmt} file: {why}")


# ----------------------------------------------------------------------------------------- GIF


def _gif_skip_sub_blocks(data: bytes, pos: int) -> int:
    """Position just after the zero-length block that ends the sub-blocks starting at ``pos``."""
    while True:
        if pos >= len(data):
            raise _malformed("GIF", "sub-blocks run past the end")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def _gif_blocks(data: bytes) -> tuple[int, list[tuple[int, int, bool]]]:
    """Where the blocks start (after the global colour table), and ``(start, end, is_xmp)`` of each
    block up to the first image."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        raise _malformed("GIF", "no GIF header")
    packed = data[10]
    pos = 13 + (3 * (2 << (packed & 0x07)) if packed & 0x80 else 0)
    first = pos
    blocks: list[tuple[int, int, bool]] = []
    while pos < len(data):
        introducer = data[pos]
        if introducer == 0x21:  # extension: label, then sub-blocks
            if pos + 2 > len(data):
                raise _malformed("GIF", "truncated extension")
            is_xmp = (
                data[pos + 1] == 0xFF
                and data[pos + 2 : pos + 3 + len(GIF_XMP_ID)] == bytes([len(GIF_XMP_ID)]) + GIF_XMP_ID
            )
            end = _gif_skip_sub_blocks(data, pos + 2)
            blocks.append((pos, end, is_xmp))
            pos = end
        elif introducer in (0x2C, 0x3B):  # image descriptor or trailer: no more metadata ahead
            return first, blocks
        else:
            raise _malformed("GIF", f"unknown block 0x{introducer:02X} at byte {pos}")
    raise _malformed("GIF", "no image")


def gif_read(data: bytes) -> bytes | None:
    _, blocks = _gif_blocks(data)
    for start, end, is_xmp in blocks:
        if is_xmp:
            body = data[start + 3 + len(GIF_XMP_ID) : end]
            if body.endswith(GIF_MAGIC_TRAILER):
                return body[: -len(GIF_MAGIC_TRAILER)]
            cut = body.find(b"\x01\xff\xfe\xfd")  # a writer that shortened the trailer
            return body[:cut] if cut >= 0 else None
    return None


def gif_write(data: bytes, packet: bytes) -> bytes:
    if b"\x00" in packet:
        raise UnsupportedImageError("an XMP packet with NUL bytes cannot be stored in a GIF")
    first, blocks = _gif_blocks(data)
    extension = b"\x21\xff" + bytes([len(GIF_XMP_ID)]) + GIF_XMP_ID + packet + GIF_MAGIC_TRAILER
    out = bytearray(b"GIF89a" + data[6:first] + extension)
    cursor = first
    for start, end, is_xmp in blocks:
        if is_xmp:
            out += data[cursor:start]
            cursor = end
    out += data[cursor:]
    return bytes(out)


# ---------------------------------------------------------------------------------------- TIFF


def _tiff_ifd0(data: bytes) -> tuple[str, int, list[tuple[int, int, int, bytes]], int]:
    """Byte order, IFD0 offset, its entries ``(tag, type, count, raw 4-byte value)``, next-IFD offset."""
    if data[:4] == b"II*\x00":
        order = "<"
    elif data[:4] == b"MM\x00*":
        order = ">"
    elif data[:4] in (b"II+\x00", b"MM\x00+"):
        raise UnsupportedImageError("BigTIFF: writing XMP is not supported")
    else:
        raise _malformed("TIFF", "no TIFF header")
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset < 8 or offset + 2 > len(data):
        raise _malformed("TIFF", "IFD0 offset out of range")
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    end = offset + 2 + 12 * count
    if end + 4 > len(data):
        raise _malformed("TIFF", "IFD0 runs past the end")
    entries = []
    for index in range(count):
        at = offset + 2 + 12 * index
        tag, kind, number = struct.unpack(order + "HHI", data[at : at + 8])
        entries.append((tag, kind, number, data[at + 8 : at + 12]))
    (next_ifd,) = struct.unpack(order + "I", data[end : end + 4])
    return order, offset, entries, next_ifd


def tiff_read(data: bytes) -> bytes | None:
    order, _, entries, _ = _tiff_ifd0(data)
    for tag, kind, number, raw in entries:
        if tag != TIFF_XMP_TAG:
            continue
        size = _TIFF_TYPE_SIZES.get(kind, 1) * number
        if size <= 4:
            return raw[:size]
        (at,) = struct.unpack(order + "I", raw)
        if at + size > len(data):
            raise _malformed("TIFF", "XMP tag points past the end")
        return data[at : at + size]
    return None


def tiff_write(data: bytes, packet: bytes) -> bytes:
    order, _, entries, next_ifd = _tiff_ifd0(data)
    out = bytearray(data)
    for tag, kind, number, raw in entries:
        size = _TIFF_TYPE_SIZES.get(kind, 1) * number
        if tag == TIFF_XMP_TAG and size > 4:
            # Nothing points at the old packet any more; blank it so no stale reservation lingers in the file.
            (at,) = struct.unpack(order + "I", raw)
            out[at : at + size] = bytes(min(size, max(0, len(out) - at)))
    if len(out) & 1:
        out += b"\x00"  # TIFF offsets are word-aligned
    packet_at = len(out)
    out += packet
    if len(out) & 1:
        out += b"\x00"
    ifd_at = len(out)
    if ifd_at + 2 + 12 * (len(entries) + 1) + 4 > 0xFFFFFFFF:
        raise UnsupportedImageError("the TIFF would exceed 4 GiB with its XMP packet")
    value = (
        packet.ljust(4, b"\x00") if len(packet) <= 4 else struct.pack(order + "I", packet_at)
    )  # a short packet sits in the entry itself
    kept = [entry for entry in entries if entry[0] != TIFF_XMP_TAG]
    new_entries = sorted([*kept, (TIFF_XMP_TAG, 1, len(packet), value)], key=lambda entry: entry[0])
    out += struct.pack(order + "H", len(new_entries))
    for tag, kind, number, raw in new_entries:
        out += struct.pack(order + "HHI", tag, kind, number) + raw
    out += struct.pack(order + "I", next_ifd)
    out[4:8] = struct.pack(order + "I", ifd_at)
    return bytes(out)
