"""How far a cloak can move an image toward each candidate style: a short trial, to choose a target.

Distance from the artist says little about this (the per-channel means that dominate the AdaIN
target move more for some styles than others), but a few optimisation steps on a small grid rank the
styles like full cloaks do: on the three shared paintings, 6 steps at 192 px ranked all 16 styles
with Spearman ρ 0.80–0.93 against the full default cloak's shift. All candidates run as one batch,
with the primary extractor, the same budget and L∞ rail, and no robustness profile.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

from collections.abc import Sequence

import numpy as np
import torch
from stylecloak.engine import metrics
from stylecloak.engine.budget import Budget
from stylecloak.engine.geometry import Grid
from stylecloak.engine.optimize import Objective, optimise
from stylecloak.engine.presets import CloakParams
from stylecloak.engine.styles import Style
from stylecloak.engine.targeting import Prepared, Term, latent_goals
from stylecloak.images import DecodedImage
from stylecloak.result import ProgressCallback
from torch import Tensor

TRIAL_RESOLUTION = 192
TRIAL_STEPS = 6


@torch.no_grad()
def _prepare(term: Term, decoded: DecodedImage, x_full: Tensor, resolution: int) -> Prepared:
    grid = Grid.plan(decoded.size, resolution, term.extractor.multiple, resolution)
    z = term.extractor.encode(grid.to_working(x_full))
    return Prepared(decoded, grid, x_full, grid.to_render(x_full), (z,))


def trial_shifts(
    term: Term,
    decoded: DecodedImage,
    x_full: Tensor,
    styles: Sequence[Style],
    budget: Budget,
    params: CloakParams,
    *,
    resolution: int = TRIAL_RESOLUTION,
    steps: int = TRIAL_STEPS,
    progress: ProgressCallback | None = None,
) -> list[float]:
    """The latent shift a ``steps``-step cloak at ``resolution`` px reaches toward each style."""
    prepared = _prepare(term, decoded, x_full, min(resolution, params.working_resolution))
    batch = [prepared] * len(styles)
    goals = latent_goals([term], batch, styles)
    grid = prepared.grid
    x_render = prepared.x_render.expand(len(styles), -1, -1, -1)
    # A larger step than the full cloak's: the trial has few steps to show where each style leads.
    objective = Objective(steps, params.linf / 2, params.alpha, params.budget_p, params.linf)
    outcome = optimise(x_render, grid, goals, budget, objective, seed=params.seed, progress=progress)
    with torch.no_grad():
        x_work = grid.to_working(x_render)
        cloaked = torch.round((x_work + outcome.delta).clamp(0, 1) * 255) / 255
        z_clean = prepared.z_clean[0].expand(len(styles), -1, -1, -1)
        target = goals[0].target_for(None, z_clean, np.random.default_rng(0))
        shifts = metrics.latent_shift(term.extractor.encode(cloaked), z_clean, target)
    return [float(s) for s in shifts]
