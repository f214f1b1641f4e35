"""Transformations an image undergoes after the cloak: the output's own save, and a platform's pipeline.

Used two ways: during optimisation (expectation over transformation: each step draws one from a
profile, so the cloak survives it) and in evaluation (measure the shift after each). Codecs are not
differentiable; they pass gradients straight through (forward: the real codec; backward: identity).
A platform registers its own with :func:`register`.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from stylecloak.errors import ConfigurationError
from torch import Tensor

Apply = Callable[[Tensor, np.random.Generator], Tensor]


@dataclass(frozen=True, slots=True)
class Transform:
    name: str
    apply: Apply
    # False when the output has another size: its target must be computed from the transformed original.
    keeps_size: bool = True
    # False when the same input may give different outputs (noise): its target cannot be cached.
    deterministic: bool = True

    def __call__(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        return self.apply(x, rng)


def straight_through(x: Tensor, forward: Callable[[Tensor], Tensor]) -> Tensor:
    """``forward(x)`` in the forward pass, identity in the backward pass."""
    with torch.no_grad():
        y = forward(x.detach())
    return x + (y - x).detach()


def _to_uint8_images(x: Tensor) -> list[Image.Image]:
    arr = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a), "RGB") for a in arr]


def _from_images(images: list[Image.Image], like: Tensor) -> Tensor:
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255 for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).to(like.device, like.dtype)


# Largest side each codec can hold: no platform delivers a longer rendition in that format.
CODEC_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383}


def codec_roundtrip(x: Tensor, fmt: str, quality: int) -> Tensor:
    """Encode and decode every image of ``x`` with Pillow (no gradient); unchanged where the codec
    cannot hold its size."""
    if max(x.shape[-2:]) > CODEC_MAX_SIDE.get(fmt, 1 << 31):
        return x
    out = []
    for image in _to_uint8_images(x):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out.append(decoded.convert("RGB"))
    return _from_images(out, x)


def quantize(x: Tensor, _rng: np.random.Generator | None = None) -> Tensor:
    """8-bit rounding, as every saved file applies."""
    return straight_through(x, lambda v: (v.clamp(0, 1) * 255).round() / 255)


def identity(x: Tensor, _rng: np.random.Generator | None = None) -> Tensor:
    return x


def jpeg(quality: int) -> Transform:
    return Transform(f"jpeg{quality}", lambda x, _r: straight_through(x, lambda v: codec_roundtrip(v, "JPEG", quality)))


def webp(quality: int) -> Transform:
    return Transform(f"webp{quality}", lambda x, _r: straight_through(x, lambda v: codec_roundtrip(v, "WEBP", quality)))


def resize_width(width: int) -> Transform:
    """Downscale to ``width`` px wide (antialiased, as image servers do); differentiable."""

    def apply(x: Tensor, _rng: np.random.Generator) -> Tensor:
        height, current = x.shape[-2:]
        if current <= width:
            return x
        new_h = max(8, round(height * width / current))
        return F.interpolate(x, size=(new_h, width), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)

    return Transform(f"width{width}", apply, keeps_size=False)


def gaussian_blur(sigma: float) -> Transform:
    def apply(x: Tensor, _rng: np.random.Generator) -> Tensor:
        radius = max(1, int(3 * sigma + 0.5))
        coords = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-(coords**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        channels = x.shape[1]
        padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
        padded = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)

    return Transform(f"blur{sigma:g}", apply)


def scale_and_back(factor: float) -> Transform:
    """Downscale by ``factor`` (antialiased) and upscale back to the original size (bicubic)."""

    def apply(x: Tensor, _rng: np.random.Generator) -> Tensor:
        height, width = x.shape[-2:]
        small = (max(8, round(height * factor)), max(8, round(width * factor)))
        down = F.interpolate(x, size=small, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        return F.interpolate(down, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)

    return Transform(f"scale{factor:g}", apply)


def _noise(x: Tensor, sigma: float, rng: np.random.Generator) -> Tensor:
    noise = torch.from_numpy(rng.standard_normal(tuple(x.shape)).astype(np.float32)).to(x.device, x.dtype)
    return (x + sigma * noise).clamp(0, 1)


def gaussian_noise(sigma: float) -> Transform:
    return Transform(f"noise{sigma:g}", lambda x, rng: _noise(x, sigma, rng), deterministic=False)


def noisy_upscale(sigma: float = 0.05, factor: float = 0.5) -> Transform:
    """A purification attack (after Hönig et al. 2024, with bicubic in place of a diffusion upscaler):
    add noise, downscale, upscale back."""
    back = scale_and_back(factor)

    def apply(x: Tensor, rng: np.random.Generator) -> Tensor:
        return back(_noise(x, sigma, rng), rng)

    return Transform("noisy_upscale", apply, deterministic=False)


def compose(*parts: Transform) -> Transform:
    """Apply ``parts`` in order (e.g. a resize, then the codec the platform serves it with)."""

    def apply(x: Tensor, rng: np.random.Generator) -> Tensor:
        for part in parts:
            x = part(x, rng)
        return x

    return Transform(
        "+".join(part.name for part in parts),
        apply,
        keeps_size=all(part.keeps_size for part in parts),
        deterministic=all(part.deterministic for part in parts),
    )


#: Slots of transformations: each optimisation step draws one from every slot.
Profile = list[list[Transform]]

_REGISTRY: dict[str, Transform] = {}


def register(transform: Transform, *, replace: bool = False) -> Transform:
    if transform.name in _REGISTRY and not replace:
        raise ConfigurationError(f"transform {transform.name!r} is already registered")
    _REGISTRY[transform.name] = transform
    return transform


def get(name: str) -> Transform:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(f"unknown transform {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


for _t in (
    Transform("identity", identity),
    Transform("quantize", quantize),
    jpeg(95),
    jpeg(90),
    jpeg(85),
    jpeg(75),
    webp(80),
    webp(90),
    gaussian_blur(0.5),
    gaussian_blur(1.0),
    scale_and_back(0.5),
    gaussian_noise(0.03),
    noisy_upscale(),
    resize_width(1600),
    resize_width(1024),
    resize_width(400),
):
    register(_t)


#: What `stylecloak eval` measures by default, in report order.
EVAL_TRANSFORMS = (
    "jpeg95",
    "jpeg85",
    "jpeg75",
    "webp80",
    "scale0.5",
    "width400",
    "blur1",
    "noise0.03",
    "noisy_upscale",
)


def _own_save(fmt: str, quality: int) -> list[Transform]:
    """The output's own save: 8-bit rounding, and the lossy codec if any."""
    save = [get("quantize")]
    if fmt == "JPEG":
        save.append(jpeg(quality))
    elif fmt in ("WEBP", "AVIF"):
        save.append(webp(quality))
    return save


def own_save(fmt: str, quality: int) -> Transform:
    """The output's own save as one transformation: the lossy codec if any, else 8-bit rounding."""
    save = _own_save(fmt, quality)
    return save[-1]


def output_profile(fmt: str, quality: int) -> Profile:
    """Survive the output's own save."""
    return [_own_save(fmt, quality)]


def platform_profile(fmt: str, quality: int) -> Profile:
    """The output's own save plus common art-site delivery: JPEG q75–95 at the original size and at
    1600/1024/400 px widths, and WebP q80, one drawn per step."""
    return [
        [
            *_own_save(fmt, quality),
            get("jpeg95"),
            get("jpeg85"),
            get("jpeg75"),
            get("webp80"),
            compose(get("width1600"), get("jpeg85")),
            compose(get("width1024"), get("jpeg85")),
            compose(get("width400"), get("jpeg85")),
        ]
    ]


PROFILES: dict[str, Callable[[str, int], Profile]] = {
    "output": output_profile,
    "platform": platform_profile,
}


def parse_profile(spec: str, fmt: str, quality: int) -> Profile:
    """A profile written as a setting: slots separated by ``;``, a slot's transformations by ``,``,
    a composition's parts by ``+``, and ``save`` for the output's own save. For example
    ``save;jpeg75,webp80;width400+jpeg85`` draws, at every step, one of each of the three slots."""
    slots: Profile = []
    for slot_spec in spec.split(";"):
        slot: list[Transform] = []
        for item in filter(None, (part.strip() for part in slot_spec.split(","))):
            if item == "save":
                slot.extend(_own_save(fmt, quality))
            else:
                slot.append(compose(*(get(name) for name in item.split("+"))) if "+" in item else get(item))
        if not slot:
            raise ConfigurationError(f"robustness profile {spec!r} has an empty slot")
        slots.append(slot)
    return slots


def profile(name: str, fmt: str, quality: int) -> Profile:
    """Transformations to optimise against, for an output of ``fmt`` at ``quality``: a named profile
    (:data:`PROFILES`) or one written out (:func:`parse_profile`)."""
    if name in PROFILES:
        return PROFILES[name](fmt, quality)
    try:
        return parse_profile(name, fmt, quality)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"robustness profile {name!r} is neither a known profile ({', '.join(PROFILES)}) "
            f"nor a list of known transformations: {exc.message}"
        ) from None
