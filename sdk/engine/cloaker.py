"""The in-process cloak: decode → choose the target → optimise δ → write back → measure.

A :class:`Cloaker` loads its models once and is safe to share between threads (cloaks run one at a
time: each already uses every core). :meth:`Cloaker.cloak_many` optimises images that share a working
grid together, in one batch; :meth:`Cloaker.cloak` is a batch of one. :func:`cloak` uses a
process-wide default Cloaker.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from stylecloak import encoding, images, marker
from stylecloak._version import __version__
from stylecloak.engine import budget as budgets
from stylecloak.engine import metrics, presets, preview, reach, robustness, targets, views
from stylecloak.engine.geometry import Grid, to_array, to_tensor, upsample
from stylecloak.engine.optimize import Goal, Objective, optimise
from stylecloak.engine.style_transfer import LatentStats, StyleStatsCache, adain
from stylecloak.engine.styles import TEXT_STYLES, Catalogue
from stylecloak.engine.targeting import Prepared, Term, latent_goals, parse_extractors, rendition_goals
from stylecloak.errors import (
    AlreadyCloakedError,
    BudgetExceededError,
    CloakFailedError,
    ConfigurationError,
    StylecloakError,
)
from stylecloak.images import DecodedImage, ImageInput
from stylecloak.models import device, extractors
from stylecloak.result import CloakReport, CloakResult, ProgressCallback
from stylecloak.rights.signals import signed
from stylecloak.settings import EngineSettings, get_settings
from torch import Tensor

log = logging.getLogger(__name__)

# Bisection steps when the saved file is over budget: δ's scale to 1/64.
SAVE_SEARCH_STEPS = 6


@dataclass(frozen=True, slots=True)
class _Job:
    index: int
    prepared: Prepared
    choice: targets.TargetChoice
    rendition: np.ndarray | None  # Ω = image/img2img: the full-size rendition in the target style
    transfer: str  # which Ω made the target: latent, img2img or image
    marker_state: marker.MarkerState = "absent"  # the input's own marker: verified (force), unverified or absent


class Cloaker:
    """Cloaks images in-process. Build once, reuse: models and style features load on construction."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        target_store: targets.TargetStore | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.compute = device.resolve(self.settings)
        self.terms: list[Term] = []
        for name, weight in parse_extractors(self.settings.extractor):
            extractor = extractors.load(name, self.settings, self.compute)
            self.terms.append(Term(extractor, weight, StyleStatsCache(extractor, self.settings.cache_dir)))
        self.extractor = self.terms[0].extractor  # the primary Φ: target choice, previews
        self.style_stats = self.terms[0].stats
        self.multiple = max(term.extractor.multiple for term in self.terms)
        self.catalogue = catalogue or Catalogue(references=self.settings.style_images)
        self.store = target_store if target_store is not None else targets.open_store(self.settings.target_store)
        self.budget = budgets.load(self.settings.budget, self.settings, self.compute)
        robustness.check(self.settings.robustness)  # a misspelt profile fails here, not per image
        self._renderer: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "+".join(term.extractor.name for term in self.terms)

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
            extractor=self.settings.extractor,
            robustness=self.settings.robustness,
            render_cap=self.settings.render_cap,
            mimic_resolutions=self.settings.mimic_resolutions,
            overrides=overrides,
        )

    def decode(self, image: ImageInput) -> DecodedImage:
        s = self.settings
        return images.decode(image, max_pixels=s.max_pixels, max_bytes=s.max_bytes, min_side=s.min_side)

    @torch.no_grad()
    def prepare(self, decoded: DecodedImage, params: presets.CloakParams) -> Prepared:
        grid = Grid.plan(decoded.size, params.working_resolution, self.multiple, params.render_cap)
        x_full = to_tensor(decoded.rgb, self.compute.device)
        working = grid.to_working(x_full)
        z_clean = tuple(term.extractor.encode(working) for term in self.terms)
        return Prepared(decoded, grid, x_full, grid.to_render(x_full), z_clean)

    def style_vectors(self) -> dict[str, np.ndarray]:
        return {style.name: self.style_stats.get(style).vector() for style in self.catalogue.pictured()}

    def choose_target(
        self,
        prepared: Prepared,
        params: presets.CloakParams,
        *,
        artist_id: str | None,
        target_style: str | None,
        progress: ProgressCallback | None = None,
    ) -> targets.TargetChoice:
        """Explicit style, else the artist's stored one, else the configured rule (then stored).
        ``progress`` is called at every step of the trial cloaks, which report no steps of their own."""
        text = self.settings.style_transfer == "img2img"
        known = {s.name for s in TEXT_STYLES} if text else set(self.catalogue.names())
        if target_style:
            if target_style not in known:
                if text:
                    raise ConfigurationError(f"{target_style!r} is not a text style; see `stylecloak styles list`")
                self.catalogue.get(target_style)  # raises UnknownStyleError with the list
            return targets.TargetChoice(target_style, "explicit target style")
        if artist_id:
            stored = self.store.get(artist_id)
            if stored is not None and stored.style in known:
                return targets.TargetChoice(stored.style, f"stored for artist {artist_id!r}", stored.percentile)
            if stored is not None:
                log.warning("artist %r's stored style %r is unknown here; choosing again", artist_id, stored.style)
        seed_key = artist_id or f"image:{prepared.decoded.sha256}"
        artist = LatentStats.of(prepared.z_clean[0]).vector()
        if text:
            # Text styles have no picture, hence no centroid without a rendition per style: seeded choice.
            names = sorted(known)
            pick = names[int(np.random.default_rng(targets.seed_of(seed_key)).integers(0, len(names)))]
            choice = targets.TargetChoice(pick, f"text style chosen from {len(names)}, seeded")
        elif self.settings.target_choice == "seeded":
            choice = targets.choose(artist, self.style_vectors(), seed_key)
        else:
            candidates = targets.far_candidates(artist, self.style_vectors(), seed_key)
            styles = [self.catalogue.get(c.style) for c in candidates]
            shifts = reach.trial_shifts(
                self.terms[0], prepared.decoded, prepared.x_full, styles, self.budget, params, progress=progress
            )
            choice = targets.most_reachable(candidates, shifts)
        if artist_id:
            self.store.put(artist_id, targets.record(choice, self.extractor.name))
            choice = targets.TargetChoice(
                choice.style, f"{choice.reason}; stored for artist {artist_id!r}", choice.percentile, choice.distance
            )
        return choice

    def target_latent(self, z_clean: Tensor, style: str) -> Tensor:
        """Ω = latent under the primary extractor (previews, evaluation)."""
        return adain(z_clean, self.style_stats.get(self.catalogue.get(style)))

    def output_quality(self, decoded: DecodedImage) -> int:
        return encoding.output_quality(decoded, self.settings.jpeg_quality, self.settings.min_jpeg_quality)

    def renderer(self) -> Any:
        """The img2img renderer (the paper's Ω), built on first use."""
        if self._renderer is None:
            from stylecloak.engine.img2img import Img2ImgRenderer

            self._renderer = Img2ImgRenderer(settings=self.settings, compute=self.compute)
        return self._renderer

    # ------------------------------------------------------------------ the whole cloak

    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        target_image: ImageInput | np.ndarray | None = None,
        progress: ProgressCallback | None = None,
        force: bool = False,
        rights: Any = None,
        **overrides: Any,
    ) -> CloakResult:
        """Cloak one image; returns the same format with the marker, and a report.

        ``target_image``: a rendition of this artwork in the target style (Ω = image), instead of the
        configured style transfer. ``rights``: a :class:`stylecloak.rights.RightsPolicy` whose "do
        not train" signals are written into the output after the cloak (off when None).
        ``overrides`` set any :class:`~stylecloak.engine.presets.CloakParams` number (``steps``, ``linf``,
        ``budget_p``, ``alpha``, ``lr``, ``seed``, ``working_resolution``, ``robustness``).
        """
        result = self.cloak_many(
            [image],
            artist_ids=[artist_id],
            target_styles=[target_style],
            target_images=[target_image],
            intensity=intensity,
            quality=quality,
            progress=progress,
            force=force,
            rights=rights,
            **overrides,
        )[0]
        if isinstance(result, StylecloakError):
            raise result
        return result

    def cloak_many(
        self,
        images: Sequence[ImageInput],
        *,
        artist_ids: Sequence[str | None] | None = None,
        target_styles: Sequence[str | None] | None = None,
        target_images: Sequence[ImageInput | np.ndarray | None] | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        progress: ProgressCallback | None = None,
        force: bool = False,
        rights: Any = None,
        max_batch: int = 8,
        **overrides: Any,
    ) -> list[CloakResult | StylecloakError]:
        """Cloak several images: one result or typed error per image, in order (a bad image fails alone).

        Images that share a working grid are optimised together in batches of up to ``max_batch``
        (one forward and backward pass for all; each keeps its own target and budget); others are
        bucketed by grid. ``progress(done, total)`` counts optimisation steps over all batches.
        """
        count = len(images)
        artists = list(artist_ids) if artist_ids is not None else [None] * count
        styles = list(target_styles) if target_styles is not None else [None] * count
        givens = list(target_images) if target_images is not None else [None] * count
        if not (len(artists) == len(styles) == len(givens) == count):
            raise ConfigurationError("artist_ids, target_styles and target_images must match images in length")
        params = self.params(intensity=intensity, quality=quality, **overrides)
        results: list[CloakResult | StylecloakError | None] = [None] * count

        def choosing(_done: int, _total: int) -> None:
            # Trial cloaks for the target run before any step; a callback that aborts (a released
            # message, a cancelled job) must be heard there too.
            if progress is not None:
                progress(0, params.steps)

        with self._lock:
            jobs: list[_Job] = []
            for index, image in enumerate(images):
                try:
                    job = self._job(index, image, artists[index], styles[index], givens[index], params, force, choosing)
                    jobs.append(job)
                except StylecloakError as exc:
                    results[index] = exc
            buckets: dict[tuple[Any, ...], list[_Job]] = {}
            for job in jobs:
                grid = job.prepared.grid
                buckets.setdefault((grid.render, grid.scaled, grid.padded), []).append(job)
            batches = [group[i : i + max_batch] for group in buckets.values() for i in range(0, len(group), max_batch)]
            for number, batch in enumerate(batches):

                def step(done: int, total: int, number: int = number) -> None:
                    if progress is not None:
                        progress(number * total + done, len(batches) * total)

                for job, result in zip(batch, self._run(batch, params, rights, step), strict=True):
                    results[job.index] = result
        return [r if r is not None else StylecloakError("internal error: image was not processed") for r in results]

    def _job(
        self,
        index: int,
        image: ImageInput,
        artist_id: str | None,
        target_style: str | None,
        target_image: ImageInput | np.ndarray | None,
        params: presets.CloakParams,
        force: bool,
        progress: ProgressCallback | None = None,
    ) -> _Job:
        decoded = self.decode(image)
        # Only a marker that verifies against these pixels under the platform's key counts.
        claimed = marker.from_metadata(decoded.metadata.xmp, decoded.metadata.comment)
        found = marker.verify(claimed, decoded.marker_digest, key=self.settings)
        if found.verified and not force:
            existing = found.marker
            assert existing is not None
            raise AlreadyCloakedError(
                f"the image is already cloaked (stylecloak {existing.version}, settings {existing.settings_hash})"
            )
        prepared = self.prepare(decoded, params)
        if target_image is not None:
            from stylecloak.engine.img2img import GivenRendition

            rendition = GivenRendition(target_image, settings=self.settings).render(decoded.rgb)
            choice = targets.TargetChoice(target_style or "given", "rendition given by the caller")
            return _Job(index, prepared, choice, rendition, "image", found.state)
        choice = self.choose_target(prepared, params, artist_id=artist_id, target_style=target_style, progress=progress)
        if self.settings.style_transfer == "img2img":
            style = next(s for s in TEXT_STYLES if s.name == choice.style)
            return _Job(index, prepared, choice, self.renderer().render(decoded.rgb, style), "img2img", found.state)
        return _Job(index, prepared, choice, None, "latent", found.state)

    def _goals(self, batch: Sequence[_Job]) -> list[Goal]:
        prepared = [job.prepared for job in batch]
        renditions = [job.rendition for job in batch]
        if all(r is None for r in renditions):
            return latent_goals(self.terms, prepared, [self.catalogue.get(job.choice.style) for job in batch])
        if any(r is None for r in renditions):
            raise ConfigurationError("a batch cannot mix latent and rendition targets")
        return rendition_goals(self.terms, prepared, [r for r in renditions if r is not None])

    def _run(
        self, batch: Sequence[_Job], params: presets.CloakParams, rights: Any, progress: ProgressCallback
    ) -> list[CloakResult | StylecloakError]:
        started = time.perf_counter()
        first = batch[0].prepared
        formats = {(job.prepared.decoded.format, self.output_quality(job.prepared.decoded)) for job in batch}
        # Same-grid images can differ in output codec; the profile follows the first, and each image's
        # own codec is still in its report's measured shift.
        fmt, quality_out = sorted(formats)[0]
        goals = self._goals(batch)
        plan = robustness.plan(params.robustness, first.grid, fmt, quality_out, params.mimic_resolutions)
        outcome = optimise(
            torch.cat([job.prepared.x_render for job in batch]),
            first.grid,
            goals,
            self.budget,
            Objective(params.steps, params.lr, params.alpha, params.budget_p, params.linf),
            profile=plan.slots,
            delta_on=plan.delta_on,
            saved=plan.saved,
            slots_per_step=plan.slots_per_step,
            gray=[job.prepared.decoded.gray for job in batch],
            seed=params.seed,
            progress=progress,
        )
        with torch.no_grad():
            clean = [torch.cat([job.prepared.z_clean[k] for job in batch]) for k in range(len(goals))]
            rng = np.random.default_rng(0)
            clean_targets = [goal.target_for(None, z, rng) for goal, z in zip(goals, clean, strict=True)]
        results: list[CloakResult | StylecloakError] = []
        for row, job in enumerate(batch):
            try:
                targets_row = [t[row : row + 1] for t in clean_targets]
                result = self._finish(job, outcome.delta[row : row + 1], plan.delta_on, targets_row, params, started)
                results.append(signed(result, rights) if rights is not None else result)
            except StylecloakError as exc:
                results.append(exc)
        return [
            CloakResult(r.data, r.content_type, r.format, r.report, trace=outcome.trace)
            if isinstance(r, CloakResult)
            else r
            for r in results
        ]

    def _finish(
        self,
        job: _Job,
        delta: Tensor,
        delta_on: str,
        target_latents: list[Tensor],
        params: presets.CloakParams,
        started: float,
    ) -> CloakResult:
        prepared = job.prepared
        decoded = prepared.decoded
        grid = prepared.grid
        check_finite(delta)
        # Bicubic upsampling overshoots; clamping keeps the L∞ rail true at full size.
        if delta_on == "render":
            delta_full = upsample(delta, grid.full).clamp(-params.linf, params.linf)
        else:
            delta_full = grid.delta_to(delta, grid.full).clamp(-params.linf, params.linf)
        mark = marker.Marker(__version__, params.settings_hash(), job.choice.style)
        quality = self.output_quality(decoded)

        def save(scale: float) -> tuple[bytes, np.ndarray]:
            rgb = to_array((prepared.x_full + delta_full * scale).clamp(0, 1))
            updates = {marker.NAMESPACE: mark.xmp_properties()}
            data = encoding.encode(decoded, rgb, quality=quality, xmp_updates=updates, gif_comment=mark.gif_comment())
            return data, rgb

        data, out_rgb, x_saved, spent, digest = self._saved_within_budget(prepared, save, params.budget_p)
        # The marker's HMAC over the saved file's pixels, written into its XMP (no pixel changes).
        data = marker.seal(
            data,
            decoded.format,
            mark,
            key=self.settings,
            digest=digest,
            reencode=lambda props: encoding.encode(
                decoded, out_rgb, quality=quality, xmp_updates={marker.NAMESPACE: props}, gif_comment=mark.gif_comment()
            ),
        )
        measured = self.measure(prepared, x_saved, target_latents, self._view_target(job), params.mimic_resolutions)
        seconds = time.perf_counter() - started
        shifts = measured["shifts"]
        weights = [term.weight for term in self.terms]
        report = CloakReport(
            version=__version__,
            extractor=self.name,
            device=self.compute.label,
            dtype=self.compute.dtype_label,
            target_style=job.choice.style,
            target_reason=job.choice.reason,
            style_transfer=job.transfer,
            intensity=params.intensity,
            quality=params.quality,
            budget_kind=params.budget_kind,
            budget_p=params.budget_p,
            budget_value=round(spent, 4),
            linf=params.linf,
            steps=params.steps,
            seconds=round(seconds, 3),
            latent_shift=round(sum(w * s for w, s in zip(weights, shifts.values(), strict=True)) / sum(weights), 4),
            shifts=shifts,
            mimic_shift=views.summary(measured["mimic"], list(measured["mimic"]))[0] if measured["mimic"] else None,
            mimic_worst=views.summary(measured["mimic"], list(measured["mimic"]))[1] if measured["mimic"] else None,
            mimic_views=measured["mimic"],
            ssim=measured["ssim"],
            ssim_working=measured["ssim_working"],
            psnr=measured["psnr"],
            max_abs_change=float(np.abs(out_rgb - decoded.rgb).max()),
            size=decoded.size,
            working_size=prepared.grid.padded,
            settings_hash=params.settings_hash(),
            robustness=params.robustness,
            input_marker=job.marker_state,
        )
        log.info(
            "cloaked %dx%d → %s, shift %.3f, ssim %.3f, %.1fs",
            *decoded.size,
            job.choice.style,
            report.latent_shift,
            report.ssim,
            seconds,
        )
        if report.mimic_shift is not None and report.mimic_shift <= 0:
            # Measured on drawings and flat colour (docs/measurements.md): the platform must hear that
            # this upload is not protected, not read a report it has no reason to open.
            log.warning(
                "the cloak did not move this %dx%d image toward %r at the mimic views (shift %.3f): it is "
                "not protected; drawings and flat colour are a known weakness",
                *decoded.size,
                job.choice.style,
                report.mimic_shift,
            )
        return CloakResult(data=data, content_type=decoded.content_type, format=decoded.format, report=report)

    def _view_target(self, job: _Job) -> views.TargetFor | None:
        """Ω at a mimic view, for the report: AdaIN of the clean view's latent to the style, or the
        primary extractor's latent of the rendition seen the same way."""
        if job.rendition is None:
            stats = self.style_stats.get(self.catalogue.get(job.choice.style))
            return lambda _view, z: adain(z, stats)
        rendition = to_tensor(job.rendition, self.compute.device)
        return lambda view, _z: self.extractor.encode(view(rendition))

    @torch.no_grad()
    def _spent(self, prepared: Prepared, x_saved: Tensor) -> float:
        """The budget's distance where it is promised: on the working grid, and at full size on the saved
        file, at its own size. It used to stop at the render grid (short side 1024), which let a
        1200×1528 painting through at full-size SSIM 0.948, and then measured uploads above 4 MP on an
        area-downscaled copy, which reads a render-grid cloak as fainter than it is."""
        grid = prepared.grid
        working = self.budget.distance(grid.to_working(x_saved), grid.to_working(prepared.x_full))
        full = self.budget.full_size(x_saved, prepared.x_full)
        return float(torch.maximum(working, full)[0])

    def _decoded(self, data: bytes) -> tuple[Tensor, bytes | None]:
        """A saved file's pixels, and the digest its marker's HMAC covers (one decode for both)."""
        saved = images.decode(data, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1, digest=True)
        return to_tensor(saved.rgb, self.compute.device), saved.marker_digest

    @torch.no_grad()
    def _saved_within_budget(
        self, prepared: Prepared, save: Callable[[float], tuple[bytes, np.ndarray]], p: float
    ) -> tuple[bytes, np.ndarray, Tensor, float, bytes | None]:
        """The saved file, its pixels before encoding, its pixels decoded back, the budget it spends and
        its pixel digest, with the budget holding on the file itself.

        The optimiser's line search meets the budget on δ; the codec then adds its own error, and more
        of it on a cloaked image than on the original (its fine texture costs JPEG's quantiser more).
        Where the saved file goes over, δ shrinks (bisection on its scale, each candidate really
        encoded) until the file holds the budget. The report's budget value exceeds p only where
        re-encoding the original alone would (a low output quality against a tight p). A palette
        (GIF) has room for almost no cloak: its dither alone costs more than the default budget.
        """

        def attempt(scale: float) -> tuple[bytes, np.ndarray, Tensor, float, bytes | None]:
            data, rgb = save(scale)
            x_saved, digest = self._decoded(data)
            return data, rgb, x_saved, self._spent(prepared, x_saved), digest

        best = attempt(1.0)
        over = best[3]
        if over <= p:
            return best
        low, high, fitted = 0.0, 1.0, None
        for _ in range(SAVE_SEARCH_STEPS):
            middle = (low + high) / 2
            candidate = attempt(middle)
            if candidate[3] <= p:
                low, fitted = middle, candidate
            else:
                high = middle
        log.info("the saved file was over budget (%.4f > %g); δ scaled by %.3f to meet it", over, p, low)
        if fitted is None:
            # Even a faint cloak does not fit: the format's own error on this image uses the budget.
            # An image over its budget is never returned as a success.
            raise BudgetExceededError(
                f"this image cannot be saved as {prepared.decoded.format} within the perceptual budget "
                f"p = {p:g} (its saved distance is {over:.4f}); convert it to PNG or raise the budget"
            )
        return fitted

    @torch.no_grad()
    def measure(
        self,
        prepared: Prepared,
        x_saved: Tensor,
        target_latents: Sequence[Tensor],
        view_target: views.TargetFor | None = None,
        resolutions: Sequence[int] = views.RESOLUTIONS,
    ) -> dict[str, Any]:
        """Shift per extractor (working grid), shift at the standard mimic views (primary extractor;
        ``view_target`` gives Ω at a view), SSIM and PSNR at full size and SSIM on the working grid of
        the saved output ``x_saved`` (decoded back from the file)."""
        grid = prepared.grid
        work_saved = grid.to_working(x_saved)
        work_clean = grid.to_working(prepared.x_full)
        shifts = {}
        for k, term in enumerate(self.terms):
            z_saved = term.extractor.encode(work_saved)
            shift = metrics.latent_shift(z_saved, prepared.z_clean[k], target_latents[k])
            shifts[term.extractor.name] = round(float(shift[0]), 4)
        mimic: dict[str, float] = {}
        if view_target is not None:
            standard = views.standard(resolutions)
            mimic = views.shifts(self.extractor.encode, prepared.x_full, x_saved, standard, view_target)
        return {
            "shifts": shifts,
            "mimic": mimic,
            "ssim": round(float(metrics.ssim_full(x_saved, prepared.x_full)[0]), 4),
            "ssim_working": round(float(metrics.ssim(work_saved, work_clean)[0]), 4),
            "psnr": round(metrics.psnr(x_saved, prepared.x_full), 2),
        }

    def compare(self, original: ImageInput, cloaked: CloakResult | bytes, style: str | None = None) -> Image.Image:
        """A before/after sheet: see :func:`stylecloak.engine.preview.compare`."""
        if isinstance(cloaked, CloakResult):
            style = style or cloaked.report.target_style
            cloaked = cloaked.data
        decoded = images.decode(original, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
        grid = Grid.plan(decoded.size, self.settings.working_resolution, self.extractor.multiple)
        with torch.no_grad():
            z_clean = self.extractor.encode(grid.to_working(to_tensor(decoded.rgb, self.compute.device)))
        target = self.target_latent(z_clean, style) if style and style in self.catalogue else None
        return preview.compare(
            self.extractor,
            original,
            cloaked,
            working_resolution=self.settings.working_resolution,
            target=target,
        )


def check_finite(delta: Tensor) -> None:
    """The guard against a diverged optimisation: a non-finite δ would write a black or noise image
    (NaN becomes 0 in uint8) that no later check could repair, so it is an error, never an output."""
    if not bool(torch.isfinite(delta).all()):
        raise CloakFailedError("the optimisation diverged (non-finite perturbation); nothing was written")


def default_cloaker(settings: EngineSettings) -> Cloaker:
    """The process's Cloaker for these settings; a client's transport fields (token, timeout…) share one."""
    return _cloaker_for(settings.for_engine())


@functools.lru_cache(maxsize=4)
def _cloaker_for(settings: EngineSettings) -> Cloaker:
    return Cloaker(settings)


def cloak(
    image: ImageInput,
    *,
    artist_id: str | None = None,
    intensity: str | None = None,
    quality: str | None = None,
    target_style: str | None = None,
    progress: ProgressCallback | None = None,
    settings: EngineSettings | None = None,
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
