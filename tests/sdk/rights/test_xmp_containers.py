"""The XMP reservation, written at the container level and read back by other parsers."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from defusedxml import ElementTree
from PIL import Image
from stylecloak import marker, xmp
from stylecloak.errors import InvalidImageError
from stylecloak.rights import DMI_PROHIBITED_AIMLTRAINING, RightsPolicy, apply, containers

from tests.sdk.rights.conftest import ARTIST_XMP, image_bytes, pixels

NS = {
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "stylecloak": marker.NAMESPACE,
}
CONSTRAINED = RightsPolicy(use="constrained", constraints="Licences: rights@example.com")
MARKED_XMP = xmp.merge_properties(ARTIST_XMP, marker.NAMESPACE, marker.Marker("0.1.0", "abc123").xmp_properties())


def pillow_packet(data: bytes) -> bytes:
    """The XMP packet as Pillow's own format plugins find it (not our container code)."""
    with Image.open(io.BytesIO(data)) as image:
        packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
        assert packet, f"Pillow finds no XMP in the {image.format}"
        return packet.encode() if isinstance(packet, str) else bytes(packet)


def texts(packet: bytes, path: str) -> list[str]:
    """Every text under ``path`` in the packet, parsed by defusedxml."""
    start, end = packet.index(b"<x:xmpmeta"), packet.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    root = ElementTree.fromstring(packet[start:end])
    return ["".join(node.itertext()).strip() for node in root.iterfind(f".//{path}", NS)]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"quality": 90}),
        ("PNG", {}),
        ("WEBP", {"quality": 90}),
        ("WEBP", {"lossless": True, "alpha": True}),
        ("TIFF", {"compression": "tiff_lzw"}),
    ],
)
def test_reservation_is_read_back_by_pillow_with_the_artists_fields_kept(fmt: str, options: dict[str, object]) -> None:
    source = image_bytes(fmt, xmp=MARKED_XMP, **options)
    out, info = apply(source, fmt, CONSTRAINED)

    packet = pillow_packet(out)
    assert texts(packet, "plus:DataMining") == ["http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEECONSTRAINT"]
    assert texts(packet, "plus:OtherConstraints") == ["Licences: rights@example.com"]
    assert texts(packet, "dc:creator") == ["Ada Lovelace"]
    assert texts(packet, "dc:rights") == ["© Ada Lovelace, all rights reserved"]
    assert marker.read_marker(out) == marker.Marker("0.1.0", "abc123"), "stylecloak's marker survives"
    assert info["written"] == ["xmp"] and "DMI-PROHIBITED-SEECONSTRAINT" in info["xmp"]
    assert info["c2pa"] == "not written (no signing credentials configured)"
    assert pixels(out)[0] == pixels(source)[0]
    assert np.array_equal(pixels(out)[1], pixels(source)[1]), "pixels must be byte-identical"


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("JPEG", {}), ("PNG", {}), ("WEBP", {}), ("WEBP", {"lossless": True, "alpha": True}), ("TIFF", {})],
)
def test_images_without_xmp_get_a_packet(fmt: str, options: dict[str, object]) -> None:
    source = image_bytes(fmt, **options)
    assert containers.read_xmp(source, fmt) is None
    out, _ = apply(source, fmt, RightsPolicy())
    assert texts(pillow_packet(out), "plus:DataMining") == [DMI_PROHIBITED_AIMLTRAINING]
    assert np.array_equal(pixels(out)[1], pixels(source)[1])


def test_simple_webp_becomes_extended_with_the_right_flags_and_sizes() -> None:
    for alpha in (False, True):
        source = image_bytes("WEBP", lossless=alpha, alpha=alpha)
        assert source[12:16] in (b"VP8 ", b"VP8L"), "Pillow writes a simple WebP without metadata"
        out, _ = apply(source, "WEBP", RightsPolicy())
        riff_size, vp8x = struct.unpack("<I", out[4:8])[0], out[12:16]
        flags, width, height = (
            out[20],
            int.from_bytes(out[24:27], "little") + 1,
            int.from_bytes(out[27:30], "little") + 1,
        )
        assert (riff_size, vp8x, width, height) == (len(out) - 8, b"VP8X", 96, 72)
        assert flags & 0x04, "XMP flag"
        assert bool(flags & 0x10) is alpha, "alpha flag follows the bitstream"
        with Image.open(io.BytesIO(out)) as image:
            assert image.mode == ("RGBA" if alpha else "RGB")


def test_applying_twice_replaces_rather_than_duplicates() -> None:
    for fmt in containers.WRITABLE:
        once, _ = apply(image_bytes(fmt, xmp=ARTIST_XMP if fmt != "GIF" else None), fmt, RightsPolicy())
        twice, _ = apply(once, fmt, RightsPolicy(use="allowed"))
        packet = containers.read_xmp(twice, fmt)
        assert packet is not None and packet.count(b"<plus:DataMining>") == 1
        assert xmp.read_property(packet, NS["plus"], "DataMining") == "http://ns.useplus.org/ldf/vocab/DMI-ALLOWED"
        assert twice.count(b"<x:xmpmeta") == 1, f"{fmt}: one packet only"


def test_png_chunks_keep_valid_crcs_and_xmp_precedes_idat() -> None:
    out, _ = apply(image_bytes("PNG", xmp=ARTIST_XMP), "PNG", RightsPolicy())
    pos, kinds = 8, []
    while pos < len(out):
        length, kind = struct.unpack(">I4s", out[pos : pos + 8])
        body = out[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", out[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        kinds.append(kind)
        pos += 12 + length
    assert kinds.count(b"iTXt") == 1 and kinds.index(b"iTXt") < kinds.index(b"IDAT")
    with Image.open(io.BytesIO(out)) as image:
        image.verify()


def test_gif_gets_an_xmp_application_extension_that_readers_skip() -> None:
    source = image_bytes("GIF")
    out, info = apply(source, "GIF", RightsPolicy())
    assert info["written"] == ["xmp"]
    start = out.index(b"\x21\xff\x0bXMP DataXMP")
    # Walked as ordinary GIF sub-blocks (what a reader that does not know XMP does), the extension must
    # end exactly after the magic trailer.
    pos = start + 2
    while out[pos]:
        pos += 1 + out[pos]
    trailer = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    assert out[pos + 1 - len(trailer) : pos + 1] == trailer
    assert out[pos + 1] in (0x21, 0x2C), "the next block follows the extension"
    packet = out[start + 14 : pos + 1 - len(trailer)]
    assert xmp.read_property(packet, NS["plus"], "DataMining") == DMI_PROHIBITED_AIMLTRAINING
    assert np.array_equal(pixels(out)[1], pixels(source)[1])


def test_avif_is_left_alone_and_says_why() -> None:
    if "AVIF" not in Image.registered_extensions().values():
        pytest.skip("Pillow without AVIF")
    source = image_bytes("AVIF")
    out, info = apply(source, "AVIF", RightsPolicy())
    assert out == source and info["written"] == []
    assert info["xmp"].startswith("not written (AVIF")


@pytest.mark.parametrize("fmt", [*containers.WRITABLE])
def test_malformed_containers_are_typed_errors(fmt: str) -> None:
    good = image_bytes(fmt)
    for bad in (b"", b"garbage" * 10, good[: len(good) // 3]):
        try:
            out, _ = apply(bad, fmt, RightsPolicy())
        except InvalidImageError:
            continue
        # A cut that still parses as far as the metadata goes is fine: the pixel data was not ours to check.
        assert out.startswith(good[:4])


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_exiftool_reads_and_validates_every_format(tmp_path: Path) -> None:
    for fmt, suffix in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("TIFF", "tif")):
        path = tmp_path / f"art.{suffix}"
        path.write_bytes(apply(image_bytes(fmt), fmt, CONSTRAINED)[0])
        result = subprocess.run(
            ["exiftool", "-s", "-s", "-s", "-XMP-plus:DataMining", "-XMP-plus:OtherConstraints", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.splitlines() == [
            "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEECONSTRAINT",
            "Licences: rights@example.com",
        ], fmt
        validate = subprocess.run(
            ["exiftool", "-validate", "-warning", "-a", str(path)], capture_output=True, text=True
        )
        warnings = [line for line in validate.stdout.splitlines() if line.startswith("Warning")]
        # Pillow's own TIFFs lack X/YResolution; nothing else may be wrong.
        assert all("Resolution" in line for line in warnings), (fmt, warnings)


def test_a_jpeg_packet_too_big_for_one_segment_is_reported_not_written() -> None:
    filler = xmp.merge_properties(ARTIST_XMP, NS["dc"], {"description": "x" * 64_900})
    source = image_bytes("JPEG", xmp=filler)
    out, info = apply(source, "JPEG", RightsPolicy())
    assert out == source and info["written"] == []
    assert info["xmp"].startswith("not written (the XMP packet is")
