"""Decoding untrusted input: every refusal is a typed error; every accepted mode round-trips."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms
from stylecloak import encoding, errors, images, xmp

from tests.conftest import encoded, painting


def test_not_an_image_is_invalid() -> None:
    with pytest.raises(errors.InvalidImageError, match="not an image"):
        images.decode(b"%PDF-1.7 this is a document, not a picture")


def test_empty_input_is_invalid() -> None:
    with pytest.raises(errors.InvalidImageError, match="empty"):
        images.decode(b"")


def test_truncated_jpeg_is_refused(jpeg_bytes: bytes) -> None:
    with pytest.raises(errors.TruncatedImageError):
        images.decode(jpeg_bytes[: len(jpeg_bytes) // 2])


def test_truncated_png_is_refused(png_bytes: bytes) -> None:
    with pytest.raises(errors.InvalidImageError):
        images.decode(png_bytes[: len(png_bytes) - 200])


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size but holds almost no data: a decompression bomb's header."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused() -> None:
    with pytest.raises(errors.ImageTooLargeError, match="decompression bomb"):
        images.decode(_png_header_only(40_000, 40_000))


def test_our_pixel_limit_is_refused_before_decoding() -> None:
    with pytest.raises(errors.ImageTooLargeError, match="pixels"):
        images.decode(_png_header_only(5_000, 5_000), max_pixels=1_000_000)


def test_byte_limit_is_refused(png_bytes: bytes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.ImageTooLargeError, match="bytes"):
        images.decode(png_bytes, max_bytes=100)
    path = tmp_path / "big.png"
    path.write_bytes(png_bytes)
    with pytest.raises(errors.ImageTooLargeError):
        images.decode(path, max_bytes=100)


def test_too_small_is_refused() -> None:
    with pytest.raises(errors.ImageTooSmallError, match="minimum of 64"):
        images.decode(encoded(painting(63, 200)))


def test_animated_gif_is_refused() -> None:
    frames = [Image.fromarray(painting(seed=i)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(errors.UnsupportedImageError, match="animated"):
        images.decode(buffer.getvalue())


def test_bilevel_is_refused() -> None:
    with pytest.raises(errors.UnsupportedImageError, match="bilevel"):
        images.decode(encoded(painting(), mode="1"))


def test_known_but_unaccepted_format_is_unsupported() -> None:
    with pytest.raises(errors.UnsupportedImageError, match="BMP"):
        images.decode(encoded(painting(), "BMP"))


def test_missing_file_is_invalid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.InvalidImageError, match="cannot read"):
        images.decode(tmp_path / "nope.png")


def test_a_directory_is_invalid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.InvalidImageError, match="cannot read"):
        images.decode(tmp_path)


def test_pil_images_without_a_format() -> None:
    cmyk = Image.fromarray(painting()).convert("CMYK")  # no format: PNG cannot hold CMYK, TIFF can
    assert images.decode(cmyk).cmyk is not None
    with pytest.raises(errors.UnsupportedImageError, match="mode HSV"):
        images.decode(Image.fromarray(painting()).convert("HSV"))


def test_all_input_kinds(tmp_path, png_bytes: bytes) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes)
    decoded = [
        images.decode(path),
        images.decode(str(path)),
        images.decode(png_bytes),
        images.decode(io.BytesIO(png_bytes)),
        images.decode(Image.open(io.BytesIO(png_bytes))),
    ]
    for item in decoded:
        assert item.size == (160, 128)
        np.testing.assert_allclose(item.rgb, decoded[0].rgb, atol=1 / 255)


@pytest.mark.parametrize(
    ("fmt", "mode", "expect_mode"),
    [
        ("JPEG", "RGB", "RGB"),
        ("JPEG", "L", "L"),
        ("JPEG", "CMYK", "CMYK"),
        ("PNG", "RGB", "RGB"),
        ("PNG", "RGBA", "RGBA"),
        ("PNG", "LA", "LA"),
        ("PNG", "L", "L"),
        ("PNG", "P", "RGB"),
        ("PNG", "I;16", "I;16"),
        ("WEBP", "RGB", "RGB"),
        ("WEBP", "RGBA", "RGBA"),
        ("GIF", "P", "P"),
        ("TIFF", "RGB", "RGB"),
        ("TIFF", "I;16", "I;16"),
    ],
)
def test_modes_round_trip(fmt: str, mode: str, expect_mode: str) -> None:
    source = Image.fromarray(painting()).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        source = Image.fromarray((np.asarray(source, dtype=np.uint16) * 257).astype("<u2"))
    if mode in ("RGBA", "LA"):
        source.putalpha(Image.linear_gradient("L").resize(source.size))
    buffer = io.BytesIO()
    source.save(buffer, format=fmt)
    decoded = images.decode(buffer.getvalue())
    assert decoded.format == fmt
    out = encoding.encode(decoded, decoded.rgb, quality=95)
    back = Image.open(io.BytesIO(out))
    assert back.format == fmt
    assert back.mode == expect_mode
    assert back.size == source.size
    if decoded.alpha is not None:
        # Alpha is copied, never recomputed.
        np.testing.assert_array_equal(np.asarray(back)[..., -1], decoded.alpha)
    if fmt in ("PNG", "TIFF") and mode not in ("P",):
        np.testing.assert_allclose(images.decode(out).rgb, decoded.rgb, atol=1 / 255 + 1e-6)


def test_gray_stays_gray_and_cmyk_keeps_black() -> None:
    gray = images.decode(encoded(painting(), mode="L"))
    assert gray.gray
    cmyk_source = Image.fromarray(painting()).convert("CMYK")
    arr = np.asarray(cmyk_source).copy()
    arr[..., 3] = 40  # a real black channel
    buffer = io.BytesIO()
    Image.fromarray(arr, "CMYK").save(buffer, "JPEG", quality=95)
    cmyk = images.decode(buffer.getvalue())
    change = np.zeros_like(cmyk.rgb)
    change[..., 0] = 4 / 255
    out = Image.open(io.BytesIO(encoding.encode(cmyk, cmyk.rgb + change, quality=100)))
    out_rgb = np.asarray(out.convert("RGB"), dtype=np.float32) / 255
    # The red channel moved by about the requested amount; black ink stayed as the artist made it.
    assert abs(float((out_rgb - cmyk.rgb)[..., 0].mean()) - 4 / 255) < 1.5 / 255
    assert abs(float(np.asarray(out)[..., 3].mean()) - 40) < 2


def _metadata_jpeg() -> bytes:
    image = Image.fromarray(painting(200, 120))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    exif[0x010F] = "ACME Camera"  # Make
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    packet = xmp.merge_properties(None, xmp.KNOWN_PREFIXES["dc"], {"creator": "Ada Lovelace"})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88, exif=exif.tobytes(), icc_profile=icc, xmp=packet)
    return buffer.getvalue()


def test_metadata_is_kept_and_orientation_applied() -> None:
    source = _metadata_jpeg()
    decoded = images.decode(source)
    assert decoded.size == (120, 200), "EXIF orientation 6 is applied to the pixels"
    assert decoded.metadata.jpeg_quality is not None and abs(decoded.metadata.jpeg_quality - 88) <= 2
    out = encoding.encode(decoded, decoded.rgb, quality=95)
    back = Image.open(io.BytesIO(out))
    assert back.size == (120, 200)
    assert back.info.get("icc_profile") == Image.open(io.BytesIO(source)).info["icc_profile"]
    exif = back.getexif()
    assert exif.get(0x010F) == "ACME Camera"
    assert exif.get(0x0112, 1) == 1, "orientation is not applied twice"
    assert xmp.read_property(back.info.get("xmp"), xmp.KNOWN_PREFIXES["dc"], "creator") == "Ada Lovelace"


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_jpeg_quality_estimate(quality: int) -> None:
    decoded = images.decode(encoded(painting(), "JPEG", quality=quality))
    assert decoded.metadata.jpeg_quality is not None
    assert abs(decoded.metadata.jpeg_quality - quality) <= 2
    assert encoding.output_quality(decoded, default=95, floor=90) == max(decoded.metadata.jpeg_quality, 90)


def test_webp_lossless_is_detected_and_kept() -> None:
    decoded = images.decode(encoded(painting(), "WEBP", lossless=True))
    assert decoded.metadata.webp_lossless
    out = encoding.encode(decoded, decoded.rgb, quality=95)
    np.testing.assert_allclose(images.decode(out).rgb, decoded.rgb, atol=1e-6)
