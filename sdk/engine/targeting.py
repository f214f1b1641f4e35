"""Targets: which extractors the cloak aims at (an ensemble), and where in each one's latent space.

A :class:`Term` is one extractor Φ_k with its weight and its own cache of style statistics. For each
image the engine builds, per term, a :class:`~stylecloak.engine.optimize.Goal`: the target latents
for the image as seen through any transformation, from one of the style transfers Ω:

- ``latent``: AdaIN of Φ_k(x) to the style's latent statistics (the CPU default);
- ``image`` / ``img2img``: Φ_k of a rendition of x in the target style (given by the caller, or made
  by a diffusers image-to-image pipeline, the paper's Ω).
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from stylecloak.engine.geometry import Grid, resize, to_tensor
from stylecloak.engine.optimize import Goal, Seen
from stylecloak.engine.style_transfer import LatentStats, StyleStatsCache
from stylecloak.errors import ConfigurationError
from stylecloak.images import DecodedImage
from stylecloak.models.extractors import FeatureExtractor
from torch import Tensor


@dataclass(frozen=True, slots=True)
class Term:
    extractor: FeatureExtractor
    weight: float
    stats: StyleStatsCache


@dataclass(frozen=True, slots=True)
class Prepared:
    """An image decoded and placed on its grids, with its clean latents under every term."""

    decoded: DecodedImage
    grid: Grid
    x_full: Tensor
    x_render: Tensor
    z_clean: tuple[Tensor, ...]  # per term, 1×C×h×w


def parse_extractors(spec: str) -> list[tuple[str, float]]:
    """``"taef2"`` or an ensemble ``"taef2,sd-vae:0.5"`` → [(name, weight)]. Names may hold colons
    (``hf:org/name``); only a trailing ``:<number>`` is a weight."""
    entries = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, weight = part.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            name, value = part, 1.0
        if not name or value <= 0:
            raise ConfigurationError(f"bad extractor entry {part!r}: write NAME or NAME:WEIGHT (weight > 0)")
        entries.append((name, value))
    if not entries:
        raise ConfigurationError("no feature extractor given")
    return entries


def adain_rows(z: Tensor, means: Tensor, stds: Tensor, eps: float = 1e-5) -> Tensor:
    """Per row of ``z`` (N×C×h×w), each channel's mean and std set to that row's (N×C) style values."""
    flat = z.flatten(2)
    mean = flat.mean(dim=2)[..., None, None]
    std = flat.std(dim=2)[..., None, None] + eps
    return (z - mean) / std * stds[..., None, None] + means[..., None, None]


def _stacked(stats: Sequence[LatentStats], like: Tensor) -> tuple[Tensor, Tensor]:
    means = torch.as_tensor(np.stack([s.mean for s in stats]), dtype=like.dtype, device=like.device)
    stds = torch.as_tensor(np.stack([s.std for s in stats]), dtype=like.dtype, device=like.device)
    return means, stds


def latent_goals(terms: Sequence[Term], batch: Sequence[Prepared], styles: Sequence[object]) -> list[Goal]:
    """Ω = latent for a batch of same-grid images, each row with its own style: the clean latent at
    each path, AdaIN'd to the style's statistics."""
    goals = []
    for k, term in enumerate(terms):
        stats = [term.stats.get(style) for style in styles]  # type: ignore[arg-type]
        means, stds = _stacked(stats, batch[0].z_clean[k])

        def target_for(
            _seen: Seen | None, clean: Tensor, _rng: np.random.Generator, means: Tensor = means, stds: Tensor = stds
        ) -> Tensor:
            return adain_rows(clean, means, stds)

        goals.append(Goal(term.extractor, target_for, term.weight))
    return goals


def rendition_goals(terms: Sequence[Term], batch: Sequence[Prepared], renditions: Sequence[np.ndarray]) -> list[Goal]:
    """Ω = image/img2img: targets are each term's latents of the rendition (seen through the transform)."""
    grid = batch[0].grid
    device = batch[0].x_full.device
    full = [to_tensor(r, device) for r in renditions]
    with torch.no_grad():
        r_render = torch.cat([resize(r, grid.render) for r in full])
        clean_targets = [torch.cat([term.extractor.encode(grid.to_working(r)) for r in full]) for term in terms]
    goals = []
    for k, term in enumerate(terms):

        def target_for(
            seen: Seen | None, _clean: Tensor, rng: np.random.Generator, term: Term = term, k: int = k
        ) -> Tensor:
            if seen is None:
                return clean_targets[k]
            return term.extractor.encode(seen(r_render, rng))

        goals.append(Goal(term.extractor, target_for, term.weight))
    return goals
