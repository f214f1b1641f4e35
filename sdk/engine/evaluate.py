"""`stylecloak eval`: how much a cloak protects, and what it costs, in numbers.

- **Mimic views** (the headline): the latent shift under Φ at each view a trainer feeds its model
  (:mod:`stylecloak.engine.views`: training resolutions 512/768/1024 and the image's own size,
  bilinear and bicubic, crops, flips, buckets, the platform's deliveries), ``mimic_mean`` and
  ``mimic_worst`` over the standard views, and the shift against training resolution for the plot.
- **Working grid**: the latent shift under the attack extractor Φ for the saved output, and after each
  transformation a platform or an attacker applies. A transformation is applied to the original and
  to the cloaked image identically (same noise draw), at full size, and the target is recomputed from
  the transformed original: shift_T = 1 − ‖Φ(T(x̃)) − t_T‖ / ‖Φ(T(x)) − t_T‖, t_T = Ω(T(x)).
  Φ sees every copy on the upload's working grid; a thumbnail is scaled up to it, as a mimic's
  training pipeline does (see :meth:`Grid.working_of`).
- **Transfer**: the shift measured by other extractors Ψ, whose target is Ψ of the decoded target
  rendition (Φ's decoder applied to t): does a cloak made against Φ also move Ψ?
- **Imperceptibility**: PSNR and SSIM at full size, SSIM on the working grid, LPIPS where its
  weights are present, max pixel change.
- **Cost**: wall seconds, steps, steps per second, peak memory.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import logging
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from stylecloak import images, marker
from stylecloak.engine import budget as budgets
from stylecloak.engine import metrics, transforms, views
from stylecloak.engine.cloaker import Cloaker
from stylecloak.engine.geometry import Grid, resize, to_tensor
from stylecloak.engine.style_transfer import adain
from stylecloak.errors import ConfigurationError, ModelError
from stylecloak.images import ImageInput
from stylecloak.models import extractors
from stylecloak.models.extractors import FeatureExtractor
from stylecloak.result import CloakReport, CloakResult
from torch import Tensor

log = logging.getLogger(__name__)

# Transformations are applied at full size up to this short side (larger images are first resized
# to it, as art sites serve them), so evaluating a huge upload stays within memory.
EVAL_MAX_SHORT_SIDE = 2048


class Imperceptibility(BaseModel):
    model_config = ConfigDict(frozen=True)

    psnr: float = Field(description="dB, at full size.")
    ssim: float = Field(description="At full size: the upload's own size, as the cloak's budget checks it.")
    ssim_working: float = Field(description="On the working grid, where the budget is also checked.")
    lpips: float | None = Field(description="None where the LPIPS backbone weights are absent.")
    max_abs_change: float


class Cost(BaseModel):
    model_config = ConfigDict(frozen=True)

    seconds: float
    steps: int
    steps_per_second: float
    peak_memory_mb: float


class Evaluation(BaseModel):
    """Every number for one image."""

    model_config = ConfigDict(frozen=True)

    input: str
    size: tuple[int, int]
    extractor: str
    target_style: str
    budget: str
    mimic_mean: float = Field(description="Mean latent shift over the standard mimic views.")
    mimic_worst: float = Field(description="Lowest latent shift among the standard mimic views.")
    views: dict[str, float] = Field(description="Latent shift at each mimic view (standard, then extended).")
    by_resolution: dict[int, float] = Field(
        default_factory=dict, description="Latent shift at each training resolution (short side, bilinear)."
    )
    protection: dict[str, float] = Field(
        description="Latent shift on the working grid: 'clean' (the saved output), then per transform."
    )
    transfer: dict[str, float | None] = Field(default_factory=dict, description="Clean shift per other extractor.")
    imperceptibility: Imperceptibility
    cost: Cost | None = Field(default=None, description="None when the cloak was made elsewhere (--cloaked).")
    shift_by_step: list[float] = Field(default_factory=list, description="1 − sqrt(step loss), per optimisation step.")
    transform_by_step: list[str] = Field(default_factory=list)
    report: CloakReport | None = None


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _bounded(x: Tensor) -> Tensor:
    height, width = x.shape[-2:]
    short = min(height, width)
    if short <= EVAL_MAX_SHORT_SIDE:
        return x
    scale = EVAL_MAX_SHORT_SIDE / short
    return resize(x, (round(width * scale), round(height * scale)))


class Evaluator:
    """Measures cloaks made by ``cloaker`` (or given as files) against Φ, transforms and other Ψ."""

    def __init__(
        self,
        cloaker: Cloaker,
        *,
        transform_names: Sequence[str] = transforms.EVAL_TRANSFORMS,
        view_names: Sequence[str] = views.EXTENDED,
        plot_resolutions: Sequence[int] = views.PLOT_RESOLUTIONS,
        against: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        self.cloaker = cloaker
        self.transforms = [transforms.get(name) for name in transform_names]
        # The standard views (at the configured training resolutions) always, first.
        self.resolutions = cloaker.settings.mimic_resolutions
        self.standard = views.standard(self.resolutions)
        known = {view.name for view in self.standard}
        self.views = self.standard + [views.get(name) for name in dict.fromkeys(view_names) if name not in known]
        self.plot_resolutions = tuple(plot_resolutions)
        self.seed = seed
        self.against: dict[str, FeatureExtractor | None] = {}
        for name in against:
            try:
                self.against[name] = extractors.load(name, cloaker.settings, cloaker.compute)
            except (ModelError, ConfigurationError) as exc:
                log.warning("cannot load %s for the transfer measurement: %s", name, exc.message)
                self.against[name] = None
        # LPIPS where the budget's own fallback rule finds it (package and weights), else not reported.
        lpips = (
            cloaker.budget
            if cloaker.budget.kind == "lpips"
            else budgets.load("auto", cloaker.settings, cloaker.compute)
        )
        self._lpips: budgets.Budget | None = lpips if lpips.kind == "lpips" else None

    def evaluate(
        self,
        original: ImageInput,
        *,
        cloaked: ImageInput | None = None,
        target_style: str | None = None,
        name: str | None = None,
        **cloak_options: Any,
    ) -> tuple[Evaluation, CloakResult | None]:
        """Cloak ``original`` (or take ``cloaked``) and measure it. Returns the numbers and the result."""
        label = name or (str(original) if isinstance(original, (str, Path)) else "image")
        result: CloakResult | None = None
        started = time.perf_counter()
        if cloaked is None:
            result = self.cloaker.cloak(original, target_style=target_style, force=True, **cloak_options)
            data = result.data
            style = result.report.target_style
        else:
            data = images.read_bytes(cloaked)
            found = marker.read_marker(data)
            style = target_style or (found.style if found is not None else "")
            if not style:
                raise ConfigurationError("the cloaked image names no target style; pass --target-style")
        seconds = time.perf_counter() - started
        before = images.decode(original, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
        after = images.decode(data, max_pixels=1 << 62, max_bytes=1 << 62, min_side=1)
        if before.size != after.size:
            raise ConfigurationError(f"cloaked image is {after.size}, the original {before.size}")
        device = self.cloaker.compute.device
        full, full_cloaked = to_tensor(before.rgb, device), to_tensor(after.rgb, device)
        # Trainers resize the upload itself; the working-grid figures use a bounded copy.
        at_views = self.mimic(full, full_cloaked, style, self.views)
        mean, worst = views.summary(at_views, [view.name for view in self.standard])
        extra = [views.at_resolution(r) for r in self.plot_resolutions if f"{r}/bilinear" not in at_views]
        plotted = {**at_views, **self.mimic(full, full_cloaked, style, extra)}
        x, x_cloaked = _bounded(full), _bounded(full_cloaked)
        del full, full_cloaked
        protection = self.protection(x, x_cloaked, style)
        evaluation = Evaluation(
            input=label,
            size=before.size,
            extractor=self.cloaker.extractor.name,
            target_style=style,
            budget=self.cloaker.budget.kind,
            mimic_mean=mean,
            mimic_worst=worst,
            views=at_views,
            by_resolution={r: plotted[f"{r}/bilinear"] for r in sorted({*self.plot_resolutions, *self.resolutions})},
            protection=protection,
            transfer=self.transfer(x, x_cloaked, style),
            imperceptibility=self.imperceptibility(before.rgb, after.rgb),
            cost=self._cost(result, seconds),
            shift_by_step=[round(1 - float(np.sqrt(max(v, 0.0))), 4) for v in result.trace.feature_loss]
            if result is not None and result.trace is not None
            else [],
            transform_by_step=list(result.trace.transform) if result is not None and result.trace is not None else [],
            report=result.report if result is not None else None,
        )
        return evaluation, result

    def mimic(self, x: Tensor, x_cloaked: Tensor, style: str, at: Sequence[views.View]) -> dict[str, float]:
        """Latent shift at each view, toward Ω of the clean view (AdaIN to the style's statistics)."""
        stats = self.cloaker.style_stats.get(self.cloaker.catalogue.get(style))
        return views.shifts(
            self.cloaker.extractor.encode, x, x_cloaked, at, lambda _view, z: adain(z, stats), seed=self.seed
        )

    @torch.no_grad()
    def protection(self, x: Tensor, x_cloaked: Tensor, style: str) -> dict[str, float]:
        """Latent shift, clean and after each transformation applied identically to both images."""
        cloaker = self.cloaker
        stats = cloaker.style_stats.get(cloaker.catalogue.get(style))
        extractor = cloaker.extractor
        grid = Grid.plan((x.shape[-1], x.shape[-2]), cloaker.settings.working_resolution, extractor.multiple)

        def shift(original: Tensor, cloaked: Tensor) -> float:
            z = extractor.encode(grid.working_of(original))
            target = adain(z, stats)
            z_cloaked = extractor.encode(grid.working_of(cloaked))
            return round(float(metrics.latent_shift(z_cloaked, z, target)[0]), 4)

        results = {"clean": shift(x, x_cloaked)}
        for transform in self.transforms:
            # The same generator state for both sides, so noise draws are identical.
            seen = transform(x, np.random.default_rng(self.seed))
            seen_cloaked = transform(x_cloaked, np.random.default_rng(self.seed))
            results[transform.name] = shift(seen, seen_cloaked)
        return results

    @torch.no_grad()
    def transfer(self, x: Tensor, x_cloaked: Tensor, style: str) -> dict[str, float | None]:
        if not self.against:
            return {}
        cloaker = self.cloaker
        phi = cloaker.extractor
        grid = Grid.plan((x.shape[-1], x.shape[-2]), cloaker.settings.working_resolution, phi.multiple)
        target = cloaker.target_latent(phi.encode(grid.to_working(x)), style)
        rendition = phi.decode(target)
        out: dict[str, float | None] = {}
        for name, psi in self.against.items():
            if psi is None or rendition is None:
                out[name] = None
                continue
            other = Grid.plan((x.shape[-1], x.shape[-2]), cloaker.settings.working_resolution, psi.multiple)
            rendition_full = grid.delta_to(rendition, (x.shape[-1], x.shape[-2])).clamp(0, 1)
            t_psi = psi.encode(other.to_working(rendition_full))
            z = psi.encode(other.to_working(x))
            z_cloaked = psi.encode(other.to_working(x_cloaked))
            out[name] = round(float(metrics.latent_shift(z_cloaked, z, t_psi)[0]), 4)
        return out

    @torch.no_grad()
    def imperceptibility(self, before: np.ndarray, after: np.ndarray) -> Imperceptibility:
        device = self.cloaker.compute.device
        a, b = to_tensor(before, device), to_tensor(after, device)
        grid = Grid.plan((a.shape[-1], a.shape[-2]), self.cloaker.settings.working_resolution)
        work_a, work_b = grid.to_working(a), grid.to_working(b)
        lpips_value = None
        if self._lpips is not None:
            lpips_value = round(float(self._lpips.distance(work_b, work_a)[0]), 4)
        return Imperceptibility(
            psnr=round(metrics.psnr(b, a), 2),
            ssim=round(float(metrics.ssim_full(b, a)[0]), 4),
            ssim_working=round(float(metrics.ssim(work_b, work_a)[0]), 4),
            lpips=lpips_value,
            max_abs_change=round(float(np.abs(after - before).max()), 4),
        )

    @staticmethod
    def _cost(result: CloakResult | None, seconds: float) -> Cost | None:
        if result is None:
            return None
        steps = result.report.steps
        return Cost(
            seconds=round(seconds, 2),
            steps=steps,
            steps_per_second=round(steps / seconds, 3) if seconds > 0 else 0.0,
            peak_memory_mb=round(_peak_memory_mb(), 1),
        )
