"""The cloak's optimisation: find δ so that the extractor sees the image in the target style.

    min_δ  E_T [ Σ_k w_k ‖Φ_k(T(x + δ)) − t_k,T‖² / ‖Φ_k(T(x)) − t_k,T‖² ]  +  α · max(budget(x + δ, x) − p, 0)
    subject to ‖δ‖∞ ≤ ε

- δ lives on the working grid, where the perceptual budget is measured (the scale at which a model
  sees the image, and cheap). For the feature term δ is upsampled to the render grid, transformations
  T from a profile (the output's own save, a platform's re-encodes and resizes) are applied there, and
  each result is resized back for the extractor. So the optimiser sees what resampling and codecs
  leave of δ (expectation over transformation). A profile is a list of slots; every step draws one
  transformation from each slot and averages their terms, so a slot that must always be seen (a
  thumbnail) is not left to chance.
- t_k,T is the target for extractor k as seen through T (computed from the transformed original), and
  each term is normalised by its starting value, so α and the ensemble weights mean the same for
  every image and extractor.
- Adam on δ (initialised uniform in ±ε/2 from a seeded generator), cosine learning-rate decay,
  projection onto the L∞ ball after every step; a final line search on δ's scale enforces the budget.

Works on a batch of same-size images: each has its own targets and budget; passes are shared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from stylecloak.engine.budget import Budget
from stylecloak.engine.geometry import Grid
from stylecloak.engine.transforms import Transform, quantize
from stylecloak.models.extractors import FeatureExtractor
from torch import Tensor

Progress = Callable[[int, int], None]
QUANTIZE = Transform("quantize", quantize)
COARSE = 4
LINE_SEARCH_STEPS = 8


@dataclass(frozen=True, slots=True)
class Goal:
    """One extractor's term: its targets for images seen through a transform (None = untransformed)."""

    extractor: FeatureExtractor
    target_for: Callable[[Transform | None], Tensor]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Objective:
    steps: int
    lr: float
    alpha: float
    budget_p: float
    linf: float


@dataclass(slots=True)
class Trace:
    """Per-step record (mean over the batch), for reports and plots."""

    feature_loss: list[float] = field(default_factory=list)
    budget: list[float] = field(default_factory=list)
    transform: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outcome:
    delta: Tensor  # on the working grid, N×3×h×w
    trace: Trace
    scale: Tensor  # (N,) factor the final line search applied to meet the budget (1 = none needed)


def features(extractor: FeatureExtractor, x: Tensor, grid: Grid) -> Tensor:
    """Φ of an image at render or full size (or a transformed copy of any size), on its working grid."""
    return extractor.encode(grid.working_of(x))


class _Terms:
    """Targets and normalising distances per (goal, transform), computed once where deterministic."""

    def __init__(self, goals: Sequence[Goal], x_render: Tensor, grid: Grid) -> None:
        self.goals = goals
        self.x_render = x_render
        self.grid = grid
        self._cache: dict[tuple[int, str], tuple[Tensor, Tensor]] = {}

    @torch.no_grad()
    def get(self, index: int, transform: Transform, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        key = (index, transform.name)
        cached = self._cache.get(key) if transform.deterministic else None
        if cached is not None:
            return cached
        goal = self.goals[index]
        target = goal.target_for(None if transform.name == "quantize" else transform)
        clean = features(goal.extractor, transform(self.x_render, rng), self.grid)
        base = ((clean - target) ** 2).flatten(1).sum(dim=1).clamp_min(1e-12)
        if transform.deterministic:
            self._cache[key] = (target, base)
        return target, base


def optimise(
    x_render: Tensor,
    grid: Grid,
    goals: Sequence[Goal],
    budget: Budget,
    objective: Objective,
    *,
    profile: Sequence[Sequence[Transform]] = (),
    gray: Sequence[bool] | None = None,
    seed: int = 0,
    coarse: int = COARSE,
    progress: Progress | None = None,
) -> Outcome:
    """δ (on the working grid) for each image of ``x_render`` (N×3×H×W in [0, 1], render size).

    δ = fine + upsample(coarse part at 1/``coarse`` size): the same set of perturbations, but the
    coarse part's pooled gradient moves low frequencies faster, and those are what survive a
    platform's downscaling and re-encoding. ``coarse=0`` optimises the fine part alone.
    """
    n = x_render.shape[0]
    device = x_render.device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    rng = np.random.default_rng(seed)
    linf = objective.linf
    shape = (n, 3, grid.padded[1], grid.padded[0])
    delta = ((torch.rand(shape, generator=generator) * 2 - 1) * (linf / 2)).to(device)
    gray_rows = torch.tensor(list(gray) if gray is not None else [False] * n, device=device)

    def project(d: Tensor) -> Tensor:
        d = d.clamp(-linf, linf)
        if bool(gray_rows.any()):
            d = torch.where(gray_rows[:, None, None, None], d.mean(dim=1, keepdim=True).expand_as(d), d)
        return d

    def rendered(d: Tensor) -> Tensor:
        # Bicubic upsampling overshoots; the clamp keeps the L∞ rail true at every size.
        return (x_render + grid.delta_to(d, grid.render).clamp(-linf, linf)).clamp(0, 1)

    x_work = grid.to_working(x_render)

    height, width = shape[-2:]
    low = torch.zeros((n, 3, -(-height // coarse), -(-width // coarse)), device=device) if coarse else None

    def combined(fine: Tensor) -> Tensor:
        if low is None:
            return fine
        up = F.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
        return fine + up

    delta = project(delta).requires_grad_(True)
    parameters = [delta] if low is None else [delta, low.requires_grad_(True)]
    optimizer = torch.optim.Adam(parameters, lr=objective.lr)
    terms = _Terms(goals, x_render, grid)
    slots = [list(slot) for slot in profile if slot] or [[QUANTIZE]]
    total_weight = sum(goal.weight for goal in goals)
    trace = Trace()
    steps = objective.steps
    for step in range(steps):
        drawn = [slot[int(rng.integers(0, len(slot)))] for slot in slots]
        total = combined(delta)
        adversarial = rendered(total)
        feature = torch.zeros(n, device=device)
        for transform in drawn:
            seen = transform(adversarial, rng)
            for index, goal in enumerate(goals):
                target, base = terms.get(index, transform, rng)
                z = features(goal.extractor, seen, grid)
                feature = feature + goal.weight * ((z - target) ** 2).flatten(1).sum(dim=1) / base
        feature = feature / (total_weight * len(drawn))
        distance = budget.distance((x_work + total).clamp(0, 1), x_work)
        loss = feature + objective.alpha * torch.relu(distance - objective.budget_p)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        # Cosine decay: large steps to find the direction, small ones to settle inside the budget.
        for group in optimizer.param_groups:
            group["lr"] = objective.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step + 1) / steps)))
        with torch.no_grad():
            # Project the sum; the fine part absorbs the correction, the coarse part keeps its course.
            delta.copy_(project(combined(delta)) - (combined(delta) - delta))
        trace.feature_loss.append(float(feature.detach().mean()))
        trace.budget.append(float(distance.detach().mean()))
        trace.transform.append(", ".join(t.name for t in drawn))
        if progress is not None:
            progress(step + 1, steps)
    with torch.no_grad():
        final_delta = project(combined(delta.detach()))
    final, scale = _enforce_budget(final_delta, x_work, budget, objective.budget_p)
    return Outcome(final, trace, scale)


@torch.no_grad()
def _enforce_budget(delta: Tensor, x_work: Tensor, budget: Budget, p: float) -> tuple[Tensor, Tensor]:
    """Shrink each image's δ (bisection on its scale) until the budget holds; the penalty alone is soft."""
    n = delta.shape[0]
    scale = torch.ones(n, device=delta.device)
    over = budget.distance((x_work + delta).clamp(0, 1), x_work) > p
    if not bool(over.any()):
        return delta, scale
    low = torch.zeros(n, device=delta.device)
    high = torch.ones(n, device=delta.device)
    for _ in range(LINE_SEARCH_STEPS):
        middle = torch.where(over, (low + high) / 2, scale)
        ok = budget.distance((x_work + delta * middle[:, None, None, None]).clamp(0, 1), x_work) <= p
        low = torch.where(over & ok, middle, low)
        high = torch.where(over & ~ok, middle, high)
    scale = torch.where(over, low, scale)
    return delta * scale[:, None, None, None], scale
