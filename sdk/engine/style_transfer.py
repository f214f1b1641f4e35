"""Ω, the latent style transfer: the target is Φ(x) with its per-channel statistics replaced by a style's.

AdaIN in latent space: t = σ_s · (Φ(x) − μ_x) / σ_x + μ_s. It keeps the artwork's layout in the
latent and gives it the style's colour and texture statistics, so no generator is needed on the CPU.
Style statistics are computed once per (extractor weights, style) and cached in memory and on disk.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from stylecloak.engine.styles import STYLE_SIZE, Style
from stylecloak.models.extractors import FeatureExtractor
from torch import Tensor

log = logging.getLogger(__name__)
EPS = 1e-5


@dataclass(frozen=True, slots=True)
class LatentStats:
    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)

    def vector(self) -> np.ndarray:
        """The point in feature space used to rank styles by distance from an artist."""
        return np.concatenate([self.mean, self.std])

    @classmethod
    def of(cls, z: Tensor) -> LatentStats:
        flat = z.detach().float().flatten(2)
        return cls(flat.mean(dim=2)[0].cpu().numpy(), flat.std(dim=2)[0].cpu().numpy())


def adain(z: Tensor, style: LatentStats) -> Tensor:
    """``z`` (N×C×h×w) with each channel's mean and std set to the style's."""
    flat = z.flatten(2)
    mean = flat.mean(dim=2)[..., None, None]
    std = flat.std(dim=2)[..., None, None] + EPS
    style_mean = torch.as_tensor(style.mean, dtype=z.dtype, device=z.device)[None, :, None, None]
    style_std = torch.as_tensor(style.std, dtype=z.dtype, device=z.device)[None, :, None, None]
    return (z - mean) / std * style_std + style_mean


class StyleStatsCache:
    """Latent statistics of each style under one extractor, kept in memory and in a JSON file."""

    def __init__(self, extractor: FeatureExtractor, cache_dir: Path | None) -> None:
        self.extractor = extractor
        self.path = cache_dir / "styles" / f"{extractor.weights_id}.json" if cache_dir else None
        self._stats: dict[str, LatentStats] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text())
            self._stats = {
                k: LatentStats(np.array(v["mean"], np.float32), np.array(v["std"], np.float32)) for k, v in data.items()
            }
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("ignoring unreadable style cache %s: %s", self.path, exc)

    def _save(self) -> None:
        if self.path is None:
            return
        data = {k: {"mean": v.mean.tolist(), "std": v.std.tolist()} for k, v in self._stats.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError as exc:  # a read-only cache only costs recomputation
            log.warning("cannot write style cache %s: %s", self.path, exc)

    @torch.no_grad()
    def get(self, style: Style) -> LatentStats:
        key = style.key
        with self._lock:
            cached = self._stats.get(key)
            if cached is not None:
                return cached
            picture = np.asarray(style.render(STYLE_SIZE), dtype=np.float32) / 255
            x = torch.from_numpy(picture.transpose(2, 0, 1).copy())[None].to(self.extractor.compute.device)
            stats = self._stats[key] = LatentStats.of(self.extractor.encode(x))
            self._save()
            return stats
