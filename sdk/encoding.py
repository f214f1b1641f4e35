"""Writing cloaked pixels back in the source's format, mode and metadata, plus our XMP properties.

The output keeps ICC profile, EXIF (orientation already applied to the pixels), XMP (merged, never
replaced), DPI and PNG text; alpha is copied untouched; JPEG quality is at least the source's.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin, TiffImagePlugin, TiffTags
from stylecloak import xmp
from stylecloak.images import CONTENT_TYPES, DecodedImage

XmpUpdates = dict[str, dict[str, xmp.XmpValue]]
_TIFF_XMP_TAG = 700


def output_quality(decoded: DecodedImage, default: int, floor: int) -> int:
    """JPEG/WebP/AVIF quality: the source's estimate (never below ``floor``), else ``default``."""
    source = decoded.metadata.jpeg_quality
    return max(source, floor) if source is not None else default


def to_pil(decoded: DecodedImage, rgb: np.ndarray) -> Image.Image:
    """Cloaked float RGB in [0, 1] → a PIL image in the source's mode (palette sources become RGB/RGBA)."""
    rgb = np.clip(rgb, 0.0, 1.0)
    if decoded.mode in {"I;16", "I;16L", "I;16B", "I"}:
        gray16 = np.round(rgb.mean(axis=2) * 65535.0).astype(np.uint16)
        return Image.fromarray(gray16.astype("<u2"))
    rgb8 = np.round(rgb * 255.0).astype(np.uint8)
    if decoded.cmyk is not None:
        # Pillow's CMYK→RGB is R = 255 − C − K; moving C by −ΔR (K unchanged) reproduces exactly the
        # RGB change we optimised, without re-separating the source's black channel.
        source8 = np.round(decoded.rgb * 255.0).astype(np.int16)
        change = rgb8.astype(np.int16) - source8
        cmyk = decoded.cmyk.astype(np.int16)
        cmyk[..., :3] = np.clip(cmyk[..., :3] - change, 0, 255)
        return Image.fromarray(cmyk.astype(np.uint8), "CMYK")
    if decoded.gray:
        gray8 = np.round(rgb.mean(axis=2) * 255.0).astype(np.uint8)
        if decoded.alpha is not None:
            return Image.fromarray(np.dstack([gray8, decoded.alpha]), "LA")
        return Image.fromarray(gray8, "L")
    if decoded.alpha is not None:
        return Image.fromarray(np.dstack([rgb8, decoded.alpha]), "RGBA")
    return Image.fromarray(rgb8, "RGB")


def _merged_xmp(decoded: DecodedImage, updates: XmpUpdates) -> bytes | None:
    packet: bytes | None = decoded.metadata.xmp
    for namespace, properties in updates.items():
        packet = xmp.merge_properties(packet, namespace, properties)
    return packet


def encode(
    decoded: DecodedImage,
    rgb: np.ndarray,
    *,
    quality: int,
    xmp_updates: XmpUpdates | None = None,
    gif_comment: bytes | None = None,
) -> bytes:
    """Encode ``rgb`` in ``decoded``'s format with its metadata and our XMP ``xmp_updates``."""
    image = to_pil(decoded, rgb)
    meta = decoded.metadata
    packet = _merged_xmp(decoded, xmp_updates or {})
    fmt = decoded.format
    options: dict[str, Any] = {}
    if meta.icc_profile:
        options["icc_profile"] = meta.icc_profile
    if meta.dpi:
        options["dpi"] = meta.dpi
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        options.update(quality=quality, optimize=False, progressive=meta.progressive)
        if image.mode == "RGB":
            # 4:4:4: chroma subsampling would halve the cloak's colour detail at no gain in fidelity.
            options["subsampling"] = 0
        if meta.exif:
            options["exif"] = meta.exif
        if packet:
            options["xmp"] = packet
        if meta.comment:
            options["comment"] = meta.comment
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for key, value in meta.png_text.items():
            info.add_itxt(key, value)
        if packet:
            info.add_itxt("XML:com.adobe.xmp", packet.decode("utf-8"), zip=False)
        options["pnginfo"] = info
        if meta.exif:
            options["exif"] = meta.exif
    elif fmt == "WEBP":
        options.update(lossless=meta.webp_lossless, quality=100 if meta.webp_lossless else quality)
        options["exact"] = True
        if meta.exif:
            options["exif"] = meta.exif
        if packet:
            options["xmp"] = packet
    elif fmt == "AVIF":
        options["quality"] = quality
        if meta.exif:
            options["exif"] = meta.exif
        if packet:
            options["xmp"] = packet
    elif fmt == "TIFF":
        options["compression"] = meta.tiff_compression if meta.tiff_compression not in (None, "jpeg") else "raw"
        ifd = TiffImagePlugin.ImageFileDirectory_v2()
        if packet:
            ifd[_TIFF_XMP_TAG] = packet
            ifd.tagtype[_TIFF_XMP_TAG] = TiffTags.BYTE
        options["tiffinfo"] = ifd
        if meta.exif:
            options["exif"] = meta.exif
    elif fmt == "GIF":
        image = _to_gif_palette(image)
        if gif_comment:
            options["comment"] = gif_comment
    else:  # pragma: no cover - decode() only admits the formats above
        raise AssertionError(fmt)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _to_gif_palette(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA"):
        return image  # Pillow maps fully transparent pixels to a transparent palette entry.
    # Error diffusion keeps more of the perturbation than nearest-colour mapping would.
    return image.convert("RGB").quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
    )


def content_type(decoded: DecodedImage) -> str:
    return CONTENT_TYPES[decoded.format]
