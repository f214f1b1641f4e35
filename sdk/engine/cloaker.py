"""The in-process cloak: decode → choose the target → optimise δ → write back → measure.

A :class:`Cloaker` loads its models once and is safe to share between threads (cloaks run one at a
time: each already uses every core). :func:`cloak` uses a process-wide default Cloaker.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from stylecloak import encoding, images, marker, presets, targets
from stylecloak._version import __version__
from stylecloak.engine import budget as budgets
from stylecloak.engine import device, metrics, preview, transforms
from stylecloak.engine.geometry import Grid, to_array, to_tensor
from stylecloak.engine.optimize import Goal, Objective, Outcome, Progress, features, optimise
from stylecloak.engine.style_transfer import LatentStats, StyleStatsCache, adain
from stylecloak.errors import AlreadyCloakedError, ConfigurationError, StylecloakError
from stylecloak.images import DecodedImage, ImageInput
from stylecloak.models import extractors
from stylecloak.result import CloakReport, CloakResult
from stylecloak.settings import Settings, get_settings
from stylecloak.styles import Catalogue
from torch import Tensor

log = logging.getLogger(__name__)

# Report SSIM is measured at full size up to this many pixels, on a downscaled copy above it.
SSIM_MAX_PIXELS = 4_000_000


@dataclass(frozen=True, slots=True)
class Prepared:
    """An image decoded and placed on its grids, with its clean latents."""

    decoded: DecodedImage
    grid: Grid
    x_full: Tensor
    x_render: Tensor
    z_clean: Tensor


class Cloaker:
    """Cloaks images in-process. Build once, reuse: models and style features load on construction."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        target_store: targets.TargetStore | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.compute = device.resolve(self.settings)
        self.extractor = extractors.load(self.settings.extractor, self.settings, self.compute)
        self.catalogue = catalogue or Catalogue(references=self.settings.style_images)
        self.store = target_store if target_store is not None else targets.open_store(self.settings.target_store)
        self.style_stats = StyleStatsCache(self.extractor, self.settings.cache_dir)
        self.budget = budgets.load(self.settings.budget, self.settings, self.compute)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ steps, public for reuse

    def params(
        self, *, intensity: str | None = None, quality: str | None = None, **overrides: Any
    ) -> presets.CloakParams:
        return presets.resolve(
            intensity=intensity or self.settings.intensity,
            quality=quality or self.settings.quality,
            budget_kind=self.budget.kind,
            working_resolution=self.settings.working_resolution,
            seed=self.settings.seed,
            extractor=self.extractor.name,
            robustness=self.settings.robustness,
            render_cap=self.settings.render_cap,
            overrides=overrides,
        )

    def decode(self, image: ImageInput) -> DecodedImage:
        s = self.settings
        return images.decode(image, max_pixels=s.max_pixels, max_bytes=s.max_bytes, min_side=s.min_side)

    @torch.no_grad()
    def prepare(self, decoded: DecodedImage, params: presets.CloakParams) -> Prepared:
        grid = Grid.plan(decoded.size, params.working_resolution, self.extractor.multiple, params.render_cap)
        x_full = to_tensor(decoded.rgb, self.compute.device)
        z_clean = self.extractor.encode(grid.to_working(x_full))
        return Prepared(decoded, grid, x_full, grid.to_render(x_full), z_clean)

    def style_vectors(self) -> dict[str, np.ndarray]:
        return {style.name: self.style_stats.get(style).vector() for style in self.catalogue.pictured()}

    def choose_target(
        self, z_clean: Tensor, *, artist_id: str | None, target_style: str | None, image_sha256: str
    ) -> targets.TargetChoice:
        """Explicit style, else the artist's stored one, else the percentile rule (then stored)."""
        if target_style:
            self.catalogue.get(target_style)
            return targets.TargetChoice(target_style, "explicit target style")
        if artist_id:
            stored = self.store.get(artist_id)
            if stored is not None and stored.style in self.catalogue:
                return targets.TargetChoice(stored.style, f"stored for artist {artist_id!r}", stored.percentile)
            if stored is not None:
                log.warning(
                    "artist %r's stored style %r is gone from the catalogue; choosing again", artist_id, stored.style
                )
        artist = LatentStats.of(z_clean).vector()
        choice = targets.choose(artist, self.style_vectors(), artist_id or f"image:{image_sha256}")
        if artist_id:
            self.store.put(artist_id, targets.record(choice, self.extractor.name))
            choice = targets.TargetChoice(
                choice.style, f"{choice.reason}; stored for artist {artist_id!r}", choice.percentile, choice.distance
            )
        return choice

    def target_latent(self, z_clean: Tensor, style: str) -> Tensor:
        return adain(z_clean, self.style_stats.get(self.catalogue.get(style)))

    def latent_goal(self, prepared: Prepared, style: str) -> Goal:
        """Ω = latent: targets are AdaIN of the (transformed) original's latents to the style."""
        stats = self.style_stats.get(self.catalogue.get(style))
        rng = np.random.default_rng(0)

        def target_for(transform: transforms.Transform | None) -> Tensor:
            if transform is None:
                return adain(prepared.z_clean, stats)
            seen = transform(prepared.x_render, rng)
            return adain(features(self.extractor, seen, prepared.grid), stats)

        return Goal(self.extractor, target_for)

    def output_quality(self, decoded: DecodedImage) -> int:
        return encoding.output_quality(decoded, self.settings.jpeg_quality, self.settings.min_jpeg_quality)

    # ------------------------------------------------------------------ the whole cloak

    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        progress: Progress | None = None,
        force: bool = False,
        rights: Any = None,
        **overrides: Any,
    ) -> CloakResult:
        """Cloak one image; returns the same format with the marker, and a report.

        ``rights``: a :class:`stylecloak.rights.RightsPolicy` whose machine-readable "do not train"
        signals are written into the output after the cloak (off when None).
        ``overrides`` set any :class:`~stylecloak.presets.CloakParams` number (``steps``, ``linf``,
        ``budget_p``, ``alpha``, ``lr``, ``seed``, ``working_resolution``).
        """
        started = time.perf_counter()
        decoded = self.decode(image)
        existing = marker.from_metadata(decoded.metadata.xmp, decoded.metadata.comment)
        if existing is not None and not force:
            raise AlreadyCloakedError(
                f"the image is already cloaked (stylecloak {existing.version}, settings {existing.settings_hash})"
            )
        params = self.params(intensity=intensity, quality=quality, **overrides)
        with self._lock:
            prepared = self.prepare(decoded, params)
            choice = self.choose_target(
                prepared.z_clean, artist_id=artist_id, target_style=target_style, image_sha256=decoded.sha256
            )
            target = self.target_latent(prepared.z_clean, choice.style)
            quality_out = self.output_quality(decoded)
            outcome = optimise(
                prepared.x_render,
                prepared.grid,
                [self.latent_goal(prepared, choice.style)],
                self.budget,
                Objective(params.steps, params.lr, params.alpha, params.budget_p, params.linf),
                profile=transforms.profile(params.robustness, decoded.format, quality_out),
                gray=[decoded.gray],
                seed=params.seed,
                progress=progress,
            )
            data, out_rgb = self._write(prepared, outcome, params, choice.style, quality_out)
            rights_info = None
            if rights is not None:
                # Metadata only, after the pixels are final; signing (C2PA) must be the last step.
                from stylecloak.rights import apply as apply_rights

                data, rights_info = apply_rights(data, decoded.format, rights)
            measured = self.measure(prepared, data, target)
        seconds = time.perf_counter() - started
        report = CloakReport(
            version=__version__,
            extractor=self.extractor.name,
            device=self.compute.label,
            dtype=self.compute.dtype_label,
            target_style=choice.style,
            target_reason=choice.reason,
            intensity=params.intensity,
            quality=params.quality,
            budget_kind=params.budget_kind,
            budget_p=params.budget_p,
            budget_value=measured["budget"],
            linf=params.linf,
            steps=params.steps,
            seconds=round(seconds, 3),
            latent_shift=measured["shift"],
            shifts={self.extractor.name: measured["shift"]},
            ssim=measured["ssim"],
            psnr=measured["psnr"],
            max_abs_change=float(np.abs(out_rgb - decoded.rgb).max()),
            size=decoded.size,
            working_size=prepared.grid.padded,
            settings_hash=params.settings_hash(),
            robustness=params.robustness,
            rights=rights_info,
        )
        log.info(
            "cloaked %dx%d → %s, shift %.3f, ssim %.3f, %.1fs",
            *decoded.size,
            choice.style,
            report.latent_shift,
            report.ssim,
            seconds,
        )
        return CloakResult(data=data, content_type=decoded.content_type, format=decoded.format, report=report)

    def cloak_many(
        self,
        images: Sequence[ImageInput],
        *,
        artist_ids: Sequence[str | None] | None = None,
        target_styles: Sequence[str | None] | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        progress: Progress | None = None,
        rights: Any = None,
        **overrides: Any,
    ) -> list[CloakResult | StylecloakError]:
        """Cloak several images; one result or typed error per image, in order (a bad image fails alone).

        ``progress(done, total)`` counts optimisation steps over the whole batch.
        """
        count = len(images)
        artists = list(artist_ids) if artist_ids is not None else [None] * count
        styles = list(target_styles) if target_styles is not None else [None] * count
        if len(artists) != count or len(styles) != count:
            raise ConfigurationError("artist_ids and target_styles must match images in length")
        results: list[CloakResult | StylecloakError] = []
        for index, image in enumerate(images):

            def step(done: int, total: int, index: int = index) -> None:
                if progress is not None:
                    progress(index * total + done, count * total)

            try:
                results.append(
                    self.cloak(
                        image,
                        artist_id=artists[index],
                        target_style=styles[index],
                        intensity=intensity,
                        quality=quality,
                        progress=step,
                        rights=rights,
                        **overrides,
                    )
                )
            except StylecloakError as exc:
                results.append(exc)
        return results

    def _write(
        self, prepared: Prepared, outcome: Outcome, params: presets.CloakParams, style: str, quality: int
    ) -> tuple[bytes, np.ndarray]:
        delta_full = prepared.grid.delta_to(outcome.delta, prepared.grid.full)
        out = to_array((prepared.x_full + delta_full).clamp(0, 1))
        mark = marker.Marker(__version__, params.settings_hash(), style)
        data = encoding.encode(
            prepared.decoded,
            out,
            quality=quality,
            xmp_updates={marker.NAMESPACE: mark.xmp_properties()},
            gif_comment=mark.gif_comment(),
        )
        return data, out

    @torch.no_grad()
    def measure(self, prepared: Prepared, data: bytes, target: Tensor) -> dict[str, float]:
        """Shift, SSIM, PSNR and budget of the saved output, decoded back from ``data``."""
        saved = images.decode(data, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
        x_saved = to_tensor(saved.rgb, self.compute.device)
        z_saved = self.extractor.encode(prepared.grid.to_working(x_saved))
        shift = float(metrics.latent_shift(z_saved, prepared.z_clean, target)[0])
        work_saved = prepared.grid.to_working(x_saved)
        budget_value = float(self.budget.distance(work_saved, prepared.grid.to_working(prepared.x_full))[0])
        a, b = x_saved, prepared.x_full
        pixels = a.shape[-1] * a.shape[-2]
        if pixels > SSIM_MAX_PIXELS:
            scale = (SSIM_MAX_PIXELS / pixels) ** 0.5
            size = (int(a.shape[-2] * scale), int(a.shape[-1] * scale))
            a = F.interpolate(a, size=size, mode="area")
            b = F.interpolate(b, size=size, mode="area")
        return {
            "shift": round(shift, 4),
            "ssim": round(float(metrics.ssim(a, b)[0]), 4),
            "psnr": round(metrics.psnr(x_saved, prepared.x_full), 2),
            "budget": round(budget_value, 4),
        }

    def compare(self, original: ImageInput, result: CloakResult) -> Image.Image:
        """A before/after sheet for ``result``: see :func:`stylecloak.engine.preview.compare`."""
        decoded = images.decode(original, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
        grid = Grid.plan(decoded.size, self.settings.working_resolution, self.extractor.multiple)
        with torch.no_grad():
            z_clean = self.extractor.encode(grid.to_working(to_tensor(decoded.rgb, self.compute.device)))
        target = None
        if result.report.target_style in self.catalogue:
            target = self.target_latent(z_clean, result.report.target_style)
        return preview.compare(
            self.extractor,
            original,
            result.data,
            working_resolution=self.settings.working_resolution,
            target=target,
        )


@functools.lru_cache(maxsize=4)
def default_cloaker(settings: Settings) -> Cloaker:
    return Cloaker(settings)


def cloak(
    image: ImageInput,
    *,
    artist_id: str | None = None,
    intensity: str | None = None,
    quality: str | None = None,
    target_style: str | None = None,
    progress: Progress | None = None,
    settings: Settings | None = None,
    rights: Any = None,
    **overrides: Any,
) -> CloakResult:
    """Cloak ``image`` with a process-wide :class:`Cloaker` built from ``settings`` (default: the environment)."""
    return default_cloaker(settings or get_settings()).cloak(
        image,
        artist_id=artist_id,
        intensity=intensity,
        quality=quality,
        target_style=target_style,
        progress=progress,
        rights=rights,
        **overrides,
    )
