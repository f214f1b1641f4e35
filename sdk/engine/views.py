"""Mimic views: what a fine-tuning trainer's model actually sees of an upload.

No trainer sees the cloak's working grid. A fine-tuning script resizes every image to its training
resolution with its own resampler, crops it, often flips it, and only then encodes it with the
model's VAE (diffusers' DreamBooth/LoRA scripts: ``transforms.Resize(resolution, BILINEAR)``, then
a centre or random crop, ``--random_flip``; SD 1.x at 512, SDXL and FLUX at 1024; bucketing
trainers resize to aspect buckets around the training area, often with area or Lanczos filters).
Many scrape what the platform delivers rather than the upload: a re-encoded JPEG, a thumbnail.

A :class:`View` is one such path, named for the trainer behaviour it stands for. Its image is made
the way the trainer makes it — Pillow-exact resampling (:mod:`stylecloak.engine.resample`), 8-bit
rounding as the file a trainer loads, the crop, the flip — and the extractor Φ sees it at that
view's own resolution. The latent shift at a view keeps the one definition used everywhere:
``1 − ‖Φ(v(x̃)) − t_v‖ / ‖Φ(v(x)) − t_v‖`` with ``t_v = Ω(Φ(v(x)))``.

:data:`STANDARD` is the set every figure is averaged over (``mimic_mean``) and whose minimum is
``mimic_worst``: short sides 512, 768, 1024 and the upload's own size, each with bilinear
(antialiased, as diffusers) and bicubic resampling. :data:`EXTENDED` adds crops, flips, other
filters, aspect buckets and the platform's deliveries. A platform adds its own with :func:`register`.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from stylecloak.engine import metrics, resample, transforms
from stylecloak.errors import ConfigurationError
from torch import Tensor

#: Short sides of the training resolutions mimics use (SD 1.x, in between, SDXL/FLUX).
RESOLUTIONS = (512, 768, 1024)
#: Extractors need sides on this grid; a trainer's crop or bucket keeps them there.
MULTIPLE = 8
#: The "native" view of a larger image is taken at this short side: no trainer trains above it, and
#: Φ at 20 megapixels would need tens of GB.
NATIVE_MAX_SHORT = 2048


def _quantize(x: Tensor) -> Tensor:
    # The trainer loads 8-bit pixels; the gradient passes straight through the rounding.
    return transforms.quantize(x)


def _centre(x: Tensor, size: tuple[int, int]) -> Tensor:
    """The centred ``size`` (width, height) window of ``x``."""
    height, width = x.shape[-2:]
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    return x[..., top : top + size[1], left : left + size[0]]


@dataclass(frozen=True, slots=True)
class View:
    """One way a trainer turns an upload into the tensor its VAE encodes."""

    name: str
    trainer: str  # the behaviour it stands for, in words
    short: int | None = None  # training resolution (short side); None: the image's own size
    filter: str = "bilinear"
    crop: bool = False  # a square crop of side ``short`` at the centre (diffusers --center_crop)
    flip: bool = False  # horizontal flip (--random_flip, the half of draws that flip)
    bucket: int | None = None  # aspect bucket: about short² pixels, sides a multiple of this
    delivery: str | None = None  # a transformation the platform applied first (registry name, e.g. jpeg75)

    @property
    def deterministic(self) -> bool:
        return self.delivery is None or delivered(self.delivery).deterministic

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size the trainer resizes an image of ``size`` (after delivery) to."""
        if self.short is None:
            return size if min(size) <= NATIVE_MAX_SHORT else resample.short_side_size(size, NATIVE_MAX_SHORT)
        if self.bucket:
            width, height = resample.scaled_area(size, self.short**2, self.bucket)
            # Cover the bucket, keeping the aspect; the crop takes off the rest.
            scale = max(width / size[0], height / size[1])
            return max(width, round(size[0] * scale)), max(height, round(size[1] * scale))
        return resample.short_side_size(size, self.short)

    def window(self, resized: tuple[int, int]) -> tuple[int, int]:
        """The part of the resized image the trainer keeps (width, height), on the extractor's grid."""
        if self.crop and self.short is not None:
            side = min(self.short, *resized)
            return resample.round_to((side, side), MULTIPLE)
        if self.bucket and self.short is not None:
            return resample.scaled_area(resized, self.short**2, self.bucket)
        return resample.round_to(resized, MULTIPLE)

    def __call__(self, x: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        """This view of full-size images ``x`` (N×3×H×W in [0, 1]), as the trainer makes it."""
        if self.delivery is not None:
            x = delivered(self.delivery)(x, rng or np.random.default_rng(0))
        size = (x.shape[-1], x.shape[-2])
        x = _quantize(resample.resize(x, self.resized(size), self.filter))
        x = _centre(x, self.window((x.shape[-1], x.shape[-2])))
        return x.flip(-1) if self.flip else x


def delivered(spec: str) -> transforms.Transform:
    """A delivery written as in robustness profiles: a registry name, or parts joined by ``+``."""
    parts = [transforms.get(name) for name in spec.split("+")]
    return parts[0] if len(parts) == 1 else transforms.compose(*parts)


_REGISTRY: dict[str, View] = {}


def register(view: View, *, replace: bool = False) -> View:
    if view.name in _REGISTRY and not replace:
        raise ConfigurationError(f"view {view.name!r} is already registered")
    if view.filter not in resample.FILTERS:
        raise ConfigurationError(f"view {view.name!r}: unknown filter {view.filter!r}")
    if view.delivery is not None:
        delivered(view.delivery)  # a misspelt delivery fails here
    _REGISTRY[view.name] = view
    return view


def get(name: str) -> View:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(f"unknown view {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def _resolution_name(short: int | None) -> str:
    return "native" if short is None else str(short)


_TRAINERS = {
    512: "SD 1.x fine-tuning (diffusers scripts, --resolution=512)",
    768: "SD 2.x-768 and mid-size buckets",
    1024: "SDXL, FLUX.1 and FLUX.2 LoRA training (--resolution=1024)",
    None: "a trainer that keeps the image's own size (buckets without resizing)",
}


def _trainer(short: int | None) -> str:
    return _TRAINERS.get(short, f"training at {short} px on the short side")


def standard(resolutions: Sequence[int] = RESOLUTIONS) -> list[View]:
    """The standard views: each training resolution and the image's own size, bilinear and bicubic."""
    return [
        View(f"{_resolution_name(short)}/{name}", f"{_trainer(short)}, {name} resize", short, name)
        for short in (*resolutions, None)
        for name in ("bilinear", "bicubic")
    ]


STANDARD: tuple[str, ...] = tuple(register(view).name for view in standard())

EXTENDED: tuple[str, ...] = tuple(
    register(view).name
    for view in (
        View("512/area", "kohya-style buckets resized with cv2 INTER_AREA", 512, "area"),
        View("1024/lanczos", "trainers resizing with Pillow's Lanczos", 1024, "lanczos"),
        View("512/crop", "diffusers --center_crop at 512", 512, "bilinear", crop=True),
        View(
            "1024/crop+flip",
            "diffusers --center_crop --random_flip at 1024 (the flipped half)",
            1024,
            crop=True,
            flip=True,
        ),
        View(
            "1024/bucket64",
            "aspect buckets of about 1024² px on a 64 px grid (kohya sd-scripts)",
            1024,
            "lanczos",
            bucket=64,
        ),
        View(
            "1024/jpeg75",
            "a scraper that took the platform's JPEG q75 re-encode, trained at 1024",
            1024,
            delivery="jpeg75",
        ),
        View(
            "512/jpeg75",
            "a scraper that took the platform's JPEG q75 re-encode, trained at 512",
            512,
            delivery="jpeg75",
        ),
        View(
            "512/thumb400",
            "a scraper that took the 400 px JPEG thumbnail, upscaled to 512 by the trainer",
            512,
            delivery="width400+jpeg85",
        ),
        View("1024/webp80", "a scraper that took the platform's WebP q80, trained at 1024", 1024, delivery="webp80"),
    )
)


def _variants(short: int | None, filters: Sequence[str], delivery: str | None = None) -> list[View]:
    """A resolution's views with each filter, flipped and not (``--random_flip`` draws both)."""
    out = []
    for filter_name in filters:
        for flip in (False, True):
            name = f"{_resolution_name(short)}/{filter_name}" + (f"/{delivery}" if delivery else "") + ("/flip" * flip)
            out.append(View(name, _trainer(short), short, filter_name, flip=flip, delivery=delivery))
    return out


def mimic_profile(
    resolutions: Sequence[int] = RESOLUTIONS, deliveries: Sequence[str] = ("jpeg75", "jpeg85", "webp80")
) -> list[list[View]]:
    """The optimiser's slots of views: one slot per training resolution and one for the image's own
    size, each holding that resolution's resamplers, flipped and not; and a slot of the platform's
    deliveries (re-encodes, where JPEG's quantiser takes most of what a cloak puts in fine detail)
    seen at the largest and the smallest resolution."""
    filters = ("bilinear", "bicubic", "lanczos", "area")
    slots = [_variants(short, filters) for short in resolutions]
    slots.append(_variants(None, ("bilinear",)))
    delivered_views = [
        view
        for delivery in deliveries
        for short in dict.fromkeys((max(resolutions), min(resolutions)))
        for view in _variants(short, ("bilinear",), delivery)
    ]
    if delivered_views:
        slots.append(delivered_views)
    return slots


#: Short sides of the resolution plot in the evaluation's report (bilinear, full image).
PLOT_RESOLUTIONS = (384, 448, 512, 576, 640, 768, 896, 1024)


def at_resolution(short: int, filter_name: str = "bilinear") -> View:
    """An unregistered view at any short side, for the resolution plot."""
    return View(f"{short}/{filter_name}", f"trained at {short} px", short, filter_name)


Encode = Callable[[Tensor], Tensor]
#: The target latent for a view, given the clean image's latent at that view (Ω at the view).
TargetFor = Callable[["View", Tensor], Tensor]


@torch.no_grad()
def shifts(
    encode: Encode,
    x: Tensor,
    x_cloaked: Tensor,
    views: Sequence[View],
    target_for: TargetFor,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """The latent shift at each view of the original ``x`` and the cloaked ``x_cloaked`` (1×3×H×W,
    full size). A delivery with noise draws the same noise for both."""
    out: dict[str, float] = {}
    for view in views:
        clean = view(x, np.random.default_rng(seed))
        cloaked = view(x_cloaked, np.random.default_rng(seed))
        z = encode(clean)
        target = target_for(view, z)
        out[view.name] = round(float(metrics.latent_shift(encode(cloaked), z, target)[0]), 4)
    return out


def summary(values: dict[str, float], standard: Sequence[str] = STANDARD) -> tuple[float, float]:
    """(mean, worst) over the standard views in ``values``."""
    picked = [values[name] for name in standard if name in values]
    if not picked:
        raise ConfigurationError("no standard view was measured")
    return round(sum(picked) / len(picked), 4), round(min(picked), 4)
