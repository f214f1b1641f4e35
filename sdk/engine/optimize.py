"""The cloak's optimisation: find δ so that the extractor sees the image in the target style.

    min_δ  E_v [ Σ_k w_k ‖Φ_k(v(x + δ)) − t_k,v‖² / ‖Φ_k(v(x)) − t_k,v‖² ]  +  α · Σ_g max(budget_g(x + δ, x) − p, 0)
    subject to ‖δ‖∞ ≤ ε

- v ranges over what the image goes through before a model sees it (:class:`Seen`): a mimic view
  (:mod:`stylecloak.engine.views`: a trainer's resize to its resolution with its resampler, crop,
  flip, perhaps after the platform's re-encode), or, for the older working-grid profiles, a
  platform transformation followed by the working grid. A profile is a list of slots; every step
  draws one from each slot and averages their terms, so nothing a slot holds is left to chance.
- t_k,v is extractor k's target for the image as seen through v (computed from the clean image seen
  the same way), and each term is normalised by its starting value, so α and the ensemble weights
  mean the same for every image, view and extractor.
- δ lives on the **render** grid (the upload itself, capped at ``render_cap`` on the short side) when
  the profile holds mimic views: every trainer resizes the upload, so δ must be defined where they
  all start. The working-grid profiles keep δ on the working grid, as they always did.
- The budget g is measured where it is promised: on the working grid, and, with δ on the render grid,
  there too (the full-size image a person sees).
- Adam on δ from δ = 0, cosine learning-rate decay, projection onto the L∞ ball after every step; a
  final line search on δ's scale enforces the budget. The random start and the coarse (low-frequency)
  part of δ that earlier versions had are gone: without them the paintings measure the same, and
  neither helped drawings (docs/measurements.md).

Works on a batch of same-size images: each has its own targets and budget; passes are shared.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from stylecloak.engine.budget import Budget
from stylecloak.engine.geometry import Grid
from stylecloak.engine.transforms import Transform, quantize
from stylecloak.models.extractors import FeatureExtractor
from stylecloak.result import ProgressCallback
from torch import Tensor

LINE_SEARCH_STEPS = 8


class Seen(Protocol):
    """A path from the image on the render grid to what an extractor is fed."""

    @property
    def name(self) -> str: ...

    @property
    def deterministic(self) -> bool: ...

    def __call__(self, x: Tensor, rng: np.random.Generator) -> Tensor: ...


@dataclass(frozen=True, slots=True)
class OnWorkingGrid:
    """A platform transformation of the render-grid image, then resized to the working grid (the
    working-grid profiles, ``output`` and ``platform``)."""

    transform: Transform
    grid: Grid

    @property
    def name(self) -> str:
        return self.transform.name

    @property
    def deterministic(self) -> bool:
        return self.transform.deterministic

    def __call__(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        return self.grid.working_of(self.transform(x, rng))


#: The target latent for the image seen through a path (None: the untransformed working grid), given
#: the clean image's latent there and the path's noise draw.
TargetFor = Callable[[Seen | None, Tensor, np.random.Generator], Tensor]


@dataclass(frozen=True, slots=True)
class Goal:
    """One extractor's term: where its latent of the image, seen through a path, should land."""

    extractor: FeatureExtractor
    target_for: TargetFor
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
class Optimised:
    delta: Tensor  # on the grid it was optimised on (working or render), N×3×h×w
    trace: Trace
    scale: Tensor  # (N,) factor the final line search applied to meet the budget (1 = none needed)


def features(extractor: FeatureExtractor, x: Tensor, grid: Grid) -> Tensor:
    """Φ of an image at render or full size (or a transformed copy of any size), on its working grid."""
    return extractor.encode(grid.working_of(x))


class _Terms:
    """Targets and normalising distances per (goal, path), computed once where deterministic."""

    def __init__(self, goals: Sequence[Goal], x_render: Tensor) -> None:
        self.goals = goals
        self.x_render = x_render
        self._cache: dict[tuple[int, str], tuple[Tensor, Tensor]] = {}

    @torch.no_grad()
    def get(self, index: int, seen: Seen, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        key = (index, seen.name)
        cached = self._cache.get(key) if seen.deterministic else None
        if cached is not None:
            return cached
        goal = self.goals[index]
        state = rng.bit_generator.state
        clean = goal.extractor.encode(seen(self.x_render, rng))
        rng.bit_generator.state = state  # a rendition target sees the same noise as the image
        target = goal.target_for(seen, clean, rng)
        base = ((clean - target) ** 2).flatten(1).sum(dim=1).clamp_min(1e-12)
        if seen.deterministic:
            self._cache[key] = (target, base)
        return target, base


def optimise(
    x_render: Tensor,
    grid: Grid,
    goals: Sequence[Goal],
    budget: Budget,
    objective: Objective,
    *,
    profile: Sequence[Sequence[Seen]] = (),
    delta_on: Literal["working", "render"] = "working",
    saved: Transform | None = None,
    slots_per_step: int | None = None,
    gray: Sequence[bool] | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> Optimised:
    """δ for each image of ``x_render`` (N×3×H×W in [0, 1], render size), on ``delta_on``'s grid.

    ``saved`` (the output's own save) is applied to the cloaked image before every path: what a
    trainer downloads is the saved file. ``slots_per_step`` takes that many slots per step in turn
    instead of all of them: as much protection per extractor pass, at a fraction of a step's cost.
    """
    n = x_render.shape[0]
    device = x_render.device
    rng = np.random.default_rng(seed)
    linf = objective.linf
    on_render = delta_on == "render"
    width, height = grid.render if on_render else grid.padded
    shape = (n, 3, height, width)
    delta = torch.zeros(shape, device=device)
    gray_rows = torch.tensor(list(gray) if gray is not None else [False] * n, device=device)

    def project(d: Tensor) -> Tensor:
        d = d.clamp(-linf, linf)
        if bool(gray_rows.any()):
            d = torch.where(gray_rows[:, None, None, None], d.mean(dim=1, keepdim=True).expand_as(d), d)
        return d

    def rendered(d: Tensor) -> Tensor:
        if on_render:
            return pixels(x_render + d)
        # Bicubic upsampling overshoots; the clamp keeps the L∞ rail true at every size.
        return pixels(x_render + grid.delta_to(d, grid.render).clamp(-linf, linf))

    x_work = grid.to_working(x_render)

    def distance(d: Tensor, adversarial: Tensor) -> Tensor:
        """The budget's excess where it is promised: the working grid, and the render grid with it."""
        if not on_render:
            return budget.distance((x_work + d).clamp(0, 1), x_work)
        full = budget.distance(adversarial, x_render)
        return torch.maximum(full, budget.distance(grid.to_working(adversarial), x_work))

    delta.requires_grad_(True)
    optimizer = torch.optim.Adam([delta], lr=objective.lr)
    terms = _Terms(goals, x_render)
    slots = [list(slot) for slot in profile if slot] or [[OnWorkingGrid(Transform("quantize", quantize), grid)]]
    per_step = slots_per_step or len(slots)
    total_weight = sum(goal.weight for goal in goals)
    trace = Trace()
    steps = objective.steps
    for step in range(steps):
        taken = (
            slots if per_step >= len(slots) else [slots[(step * per_step + k) % len(slots)] for k in range(per_step)]
        )
        drawn = [slot[int(rng.integers(0, len(slot)))] for slot in taken]
        adversarial = rendered(delta)
        seen_from = adversarial if saved is None else saved(adversarial, rng)
        feature = torch.zeros(n, device=device)
        for seen in drawn:
            draw = int(rng.integers(1 << 62))  # one noise draw per path, for the image and its target alike
            image = seen(seen_from, np.random.default_rng(draw))
            for index, goal in enumerate(goals):
                target, base = terms.get(index, seen, np.random.default_rng(draw))
                z = goal.extractor.encode(image)
                feature = feature + goal.weight * ((z - target) ** 2).flatten(1).sum(dim=1) / base
        feature = feature / (total_weight * len(drawn))
        spent = distance(delta, adversarial)
        loss = feature + objective.alpha * torch.relu(spent - objective.budget_p)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        # Cosine decay: large steps to find the direction, small ones to settle inside the budget.
        for group in optimizer.param_groups:
            group["lr"] = objective.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step + 1) / steps)))
        with torch.no_grad():
            delta.copy_(project(delta))
        trace.feature_loss.append(float(feature.detach().mean()))
        trace.budget.append(float(spent.detach().mean()))
        trace.transform.append(", ".join(seen.name for seen in drawn))
        if progress is not None:
            progress(step + 1, steps)
    with torch.no_grad():
        final, scale = _enforce_budget(project(delta.detach()), lambda d: distance(d, rendered(d)), objective.budget_p)
    return Optimised(final, trace, scale)


class _Pixels(torch.autograd.Function):
    """Clamp to [0, 1] whose gradient still flows where a descent step would move the value inward.

    Torch's clamp has no gradient at the bounds. Line art is mostly pure white paper and pure black
    ink: from δ = 0 every such pixel had a zero gradient, so δ never moved and the cloak left the
    drawing unchanged. Outward gradients are still stopped, so δ is not pushed past the bound.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0, 1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        # Descent moves x by −grad: at or below 0 it may only go up, at or above 1 only down.
        return grad * (((x > 0) | (grad < 0)) & ((x < 1) | (grad > 0)))


def pixels(x: Tensor) -> Tensor:
    """``x`` clamped to [0, 1], with :class:`_Pixels`' gradient at the bounds."""
    out: Tensor = _Pixels.apply(x)
    return out


@torch.no_grad()
def _enforce_budget(delta: Tensor, distance: Callable[[Tensor], Tensor], p: float) -> tuple[Tensor, Tensor]:
    """Shrink each image's δ (bisection on its scale) until the budget holds; the penalty alone is soft."""
    n = delta.shape[0]
    scale = torch.ones(n, device=delta.device)
    over = distance(delta) > p
    if not bool(over.any()):
        return delta, scale
    low = torch.zeros(n, device=delta.device)
    high = torch.ones(n, device=delta.device)
    for _ in range(LINE_SEARCH_STEPS):
        middle = torch.where(over, (low + high) / 2, scale)
        ok = distance(delta * middle[:, None, None, None]) <= p
        low = torch.where(over & ok, middle, low)
        high = torch.where(over & ~ok, middle, high)
    scale = torch.where(over, low, scale)
    return delta * scale[:, None, None, None], scale
