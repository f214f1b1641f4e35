"""Decoding untrusted images into pixels plus everything needed to write them back the same way.

Every refusal is a typed :mod:`stylecloak.errors` error: not an image, truncated, a decompression
bomb or over our own limits, too small, animated, or a mode that cannot carry a cloak. Pillow's own
exceptions never escape.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError, features
from stylecloak import marker
from stylecloak.bounds import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE
from stylecloak.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    StylecloakError,
    TruncatedImageError,
    UnsupportedImageError,
)

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Image.Image

# Formats we decode and write back in kind. (Pillow opens JPEGs with extra camera frames as "MPO"
# through its JPEG plugin; we treat them as JPEG and keep the first frame.)
FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF") + (("AVIF",) if features.check("avif") else ())
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
}
EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B"}
_PNG_XMP_KEY = "XML:com.adobe.xmp"

# Never decode a partial file as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the source carried that the output must carry too."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    jpeg_quality: int | None = None
    jpeg_subsampling: int | None = None
    progressive: bool = False
    webp_lossless: bool = False
    tiff_compression: str | None = None
    png_text: dict[str, str] = field(default_factory=dict)
    comment: bytes | None = None


@dataclass(frozen=True, slots=True, eq=False)
class DecodedImage:
    """Pixels as float RGB in [0, 1] (orientation applied) plus what is needed to re-encode them."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    mode: str
    metadata: Metadata
    sha256: str
    cmyk: np.ndarray | None = None
    #: SHA-256 of the decoded pixels, computed only when the metadata claims a sealed stylecloak marker
    #: (:func:`stylecloak.marker.verify` checks the claim against it).
    marker_digest: bytes | None = None

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def gray(self) -> bool:
        """Single-channel sources: the cloak must keep R = G = B so it survives the way back."""
        return self.mode in {"L", "LA"} | _SIXTEEN_BIT

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def read_bytes(source: ImageInput, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The encoded bytes of ``source``, refusing anything over ``max_bytes`` without reading it all."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(Path(source), max_bytes)
    elif hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        if not isinstance(data, bytes):
            raise InvalidImageError("the file object must be opened in binary mode")
    else:
        raise InvalidImageError(f"cannot read an image from a {type(source).__name__}")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"the image is over the limit of {max_bytes} bytes")
    if not data:
        raise InvalidImageError("the image is empty (0 bytes)")
    return data


def _read_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most ``max_bytes`` + 1 of them.

    Opened without blocking and checked on the open descriptor, so a FIFO never hangs the read, a
    device (``/dev/zero``) is never read without end, and a file swapped after a check is caught.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InvalidImageError(f"cannot read {path}: {kind}")
    if info.st_size > max_bytes:
        os.close(fd)
        raise ImageTooLargeError(f"{path} is {info.st_size} bytes; the limit is {max_bytes}")
    with os.fdopen(fd, "rb", buffering=0) as handle:
        try:
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes and (chunk := handle.read(min(1 << 20, max_bytes + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:  # a file that vanished or is unreadable
            raise InvalidImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return b"".join(chunks)


@contextlib.contextmanager
def _strict(what: str) -> Iterator[None]:
    """Pillow's complaints about a corrupt file become a typed refusal, never a half-read image.

    Pillow *warns* about some corruption (truncated TIFF tags, corrupt EXIF) and carries on; here a
    warning is an error. Any other exception from a decoder is an ``InvalidImageError`` too: untrusted
    bytes must never surface as a Pillow or Python exception.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.simplefilter("error", UserWarning)
        try:
            yield
        except StylecloakError:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageTooLargeError(f"refused as a decompression bomb: {exc}") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _decode_error(exc, what) from exc
        except (UserWarning, Exception) as exc:
            raise InvalidImageError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with _strict("not a readable image"):
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except InvalidImageError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):
            raise _unidentified(data) from exc.__cause__
        raise
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLargeError(f"{width}×{height} is {width * height} pixels; the limit is {max_pixels}")
    return image


def _unidentified(data: bytes) -> InvalidImageError | UnsupportedImageError:
    """Tell a real image in a format we do not take from something that is not an image at all."""
    accepted = ", ".join(FORMATS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as other:
                found = other.format
    except Exception:
        return InvalidImageError(f"not an image (accepted formats: {accepted})")
    return UnsupportedImageError(f"{found} images are not supported (accepted formats: {accepted})")


def _decode_error(exc: Exception, what: str) -> InvalidImageError:
    text = str(exc).lower()
    if isinstance(exc, EOFError) or "truncated" in text or "premature" in text:
        return TruncatedImageError(f"the image data is truncated: {exc}")
    return InvalidImageError(f"{what}: {exc}")


def _load(image: Image.Image) -> None:
    with _strict("the image data cannot be decoded"):
        image.load()


def estimate_jpeg_quality(quantization: dict[int, Any] | None) -> int | None:
    """The IJG quality (1–100) whose scaled standard luminance table best matches the file's.

    Compares table sums, which do not depend on the zigzag ordering of the stored table.
    """
    if not quantization or 0 not in quantization:
        return None
    luma = np.asarray(list(quantization[0]), dtype=np.float64)
    if luma.size != 64:
        return None
    target = luma.sum()
    best, best_error = None, float("inf")
    for quality in range(1, 101):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        table = np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)
        error = abs(table.sum() - target)
        if error < best_error:
            best, best_error = quality, error
    return best


_IJG_LUMA = np.array(
    [
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ],
    dtype=np.float64,
)


def _webp_lossless(data: bytes) -> bool:
    """Whether a WebP file's image chunk is VP8L (lossless), walking the RIFF chunks."""
    offset = 12
    while offset + 8 <= len(data):
        tag = data[offset : offset + 4]
        if tag in (b"VP8L", b"VP8 "):
            return tag == b"VP8L"
        length = int.from_bytes(data[offset + 4 : offset + 8], "little")
        offset += 8 + length + (length & 1)
    return False


def _metadata(image: Image.Image, oriented: Image.Image, data: bytes, fmt: str) -> Metadata:
    info = image.info
    exif_bytes: bytes | None = info.get("exif")
    if exif_bytes is not None and oriented is not image:
        exif = oriented.getexif()
        exif.pop(EXIF_ORIENTATION, None)
        exif_bytes = exif.tobytes()
    xmp_raw = oriented.info.get("xmp") or info.get(_PNG_XMP_KEY)
    if xmp_raw is None and hasattr(image, "tag_v2") and 700 in image.tag_v2:
        xmp_raw = image.tag_v2[700]
    if xmp_raw is None and fmt == "GIF":  # Pillow does not expose a GIF's XMP application extension
        from stylecloak.rights.gif_tiff import gif_read

        try:
            xmp_raw = gif_read(data)
        except InvalidImageError:
            xmp_raw = None
    xmp_bytes = xmp_raw.encode("utf-8") if isinstance(xmp_raw, str) else xmp_raw
    dpi = info.get("dpi")
    png_text: dict[str, str] = {}
    if fmt == "PNG":
        png_text = {
            key: value
            for key, value in getattr(image, "text", {}).items()
            if key != _PNG_XMP_KEY and isinstance(value, str)
        }
    quality = subsampling = None
    if fmt in ("JPEG", "MPO"):
        from PIL import JpegImagePlugin

        quality = estimate_jpeg_quality(getattr(image, "quantization", None))
        sampling = JpegImagePlugin.get_sampling(image)
        subsampling = sampling if sampling in (0, 1, 2) else None
    comment = info.get("comment")
    return Metadata(
        icc_profile=info.get("icc_profile") or None,
        exif=exif_bytes or None,
        xmp=bytes(xmp_bytes) if xmp_bytes else None,
        dpi=tuple(float(v) for v in dpi[:2]) if dpi else None,  # type: ignore[arg-type]
        jpeg_quality=quality,
        jpeg_subsampling=subsampling,
        progressive=bool(info.get("progressive") or info.get("progression")),
        webp_lossless=fmt == "WEBP" and _webp_lossless(data),
        tiff_compression=info.get("compression") if fmt == "TIFF" else None,
        png_text=png_text,
        comment=comment if isinstance(comment, bytes) and comment else None,
    )


def _pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """(rgb float [0,1], alpha, cmyk, mode) for every mode we accept."""
    mode = image.mode
    if mode == "1":
        raise UnsupportedImageError("bilevel (1-bit) images cannot carry a cloak; save as grayscale PNG")
    if mode in ("I", "F"):
        # 32-bit integer or float samples have no agreed range (0–255? 0–65535? any?): reading them as
        # 16-bit gray would change every value on the way back.
        raise UnsupportedImageError(
            f"{'32-bit integer' if mode == 'I' else 'floating-point'} images are not supported; save as 8- or 16-bit"
        )
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode_out = "P"
    else:
        mode_out = mode
    if image.mode in _SIXTEEN_BIT:
        gray = np.asarray(image, dtype=np.float32)
        gray /= 65535.0
        return np.repeat(gray[..., None], 3, axis=2), None, None, mode_out
    if image.mode == "CMYK":
        cmyk = np.asarray(image, dtype=np.uint8)
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        return rgb, None, cmyk, mode_out
    if image.mode in ("L", "LA"):
        arr = np.asarray(image, dtype=np.uint8)
        gray = (arr if arr.ndim == 2 else arr[..., 0]).astype(np.float32) / 255.0
        alpha = arr[..., 1].copy() if image.mode == "LA" else None
        return np.repeat(gray[..., None], 3, axis=2), alpha, None, mode_out
    if image.mode == "RGBA":
        arr = np.asarray(image, dtype=np.uint8)
        return arr[..., :3].astype(np.float32) / 255.0, arr[..., 3].copy(), None, mode_out
    if image.mode in ("RGB", "YCbCr"):
        arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return arr.astype(np.float32) / 255.0, None, None, "RGB" if mode_out == "YCbCr" else mode_out
    raise UnsupportedImageError(f"images in mode {image.mode} are not supported")


def decode(
    source: ImageInput,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_side: int = DEFAULT_MIN_SIDE,
    digest: bool = False,
) -> DecodedImage:
    """Decode ``source`` (path, bytes, binary file or PIL image) for cloaking, or raise a typed error.

    ``marker_digest`` (the pixel digest a marker's HMAC covers) is computed when the image claims a
    sealed marker, or always with ``digest=True`` (for a file about to be sealed)."""
    if isinstance(source, Image.Image):
        buffer = io.BytesIO()
        # An in-memory image without a format: PNG, or TIFF for CMYK, which PNG cannot hold.
        fmt = source.format if source.format in CONTENT_TYPES else ("TIFF" if source.mode == "CMYK" else "PNG")
        save_format = "PNG" if fmt in ("GIF", "MPO") else fmt
        try:
            source.save(buffer, format=save_format, **({"quality": 100} if save_format == "JPEG" else {}))
        except (OSError, ValueError, KeyError) as exc:
            raise UnsupportedImageError(f"cannot cloak a PIL image in mode {source.mode}; convert it to RGB") from exc
        data = buffer.getvalue()
    else:
        data = read_bytes(source, max_bytes)
    image = _open(data, max_pixels)
    with image:
        fmt = "JPEG" if image.format == "MPO" else str(image.format)
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "MPO":
            raise UnsupportedImageError(f"animated {fmt} ({frames} frames) is not supported yet")
        width, height = image.size
        if min(width, height) < min_side:
            raise ImageTooSmallError(f"{width}×{height} is under the minimum of {min_side} px on a side")
        _load(image)
        with _strict("the image's metadata cannot be read"):
            oriented = ImageOps.exif_transpose(image) if image.getexif().get(EXIF_ORIENTATION, 1) != 1 else image
            rgb, alpha, cmyk, mode = _pixels(oriented)
            metadata = _metadata(image, oriented, data, fmt)
            claimed = marker.from_metadata(metadata.xmp, metadata.comment)
            sealed = claimed is not None and bool(claimed.mac)
            pixels_digest = marker.pixel_digest(image) if digest or sealed else None
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        alpha=alpha,
        format=fmt,
        mode=mode,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
        cmyk=cmyk,
        marker_digest=pixels_digest,
    )
