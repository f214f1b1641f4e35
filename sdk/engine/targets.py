"""Choosing an artist's target style, and remembering it.

The paper's rule: place the artist and every catalogue style in feature space (here, per-channel
mean and standard deviation of the extractor's latents), rank the styles by distance from the artist,
and pick among those between the 50th and 75th percentile: far enough to mislead a mimic, near enough
that the cloak stays small. The upper bound stands in for "a cloak can reach it"; measured on the
shared paintings, distance predicts that poorly (the shift a cloak reaches differs up to 2× between
styles). So the default rule (``reachable``) keeps the lower bound, takes every
style at or beyond it as a candidate, and lets a short trial cloak toward each decide
(:mod:`stylecloak.engine.reach`); ``seeded`` is the paper's rule. Either way the draw is seeded by the artist
id, and a :class:`TargetStore` keeps it, because an artist whose uploads pointed at different targets
would teach a mimic noise, not a wrong style.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from stylecloak.errors import ConfigurationError

PERCENTILE_BAND = (50.0, 75.0)
# At most this many far styles get a trial cloak (a seeded sample when the catalogue has more).
REACH_CANDIDATES = 8


@dataclass(frozen=True, slots=True)
class TargetChoice:
    style: str
    reason: str
    percentile: float | None = None
    distance: float | None = None


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """What a store keeps per artist."""

    style: str
    extractor: str
    chosen_at: float
    percentile: float | None = None


class TargetStore(Protocol):
    def get(self, artist_id: str) -> TargetRecord | None: ...

    def put(self, artist_id: str, record: TargetRecord) -> None: ...


class MemoryTargetStore:
    """Per-process store; the default when no store is configured."""

    def __init__(self) -> None:
        self._records: dict[str, TargetRecord] = {}
        self._lock = threading.Lock()

    def get(self, artist_id: str) -> TargetRecord | None:
        with self._lock:
            return self._records.get(artist_id)

    def put(self, artist_id: str, record: TargetRecord) -> None:
        with self._lock:
            self._records[artist_id] = record


class JsonFileTargetStore:
    """A JSON file of artist → record, rewritten atomically (temp file and rename) on every change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"target store {self.path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(f"target store {self.path} must hold a JSON object")
        return data

    def get(self, artist_id: str) -> TargetRecord | None:
        with self._lock:
            entry = self._read().get(artist_id)
        return TargetRecord(**entry) if isinstance(entry, dict) else None  # type: ignore[arg-type]

    def put(self, artist_id: str, record: TargetRecord) -> None:
        with self._lock:
            data = self._read()
            data[artist_id] = asdict(record)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".targets.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            finally:
                Path(tmp).unlink(missing_ok=True)


def open_store(spec: str) -> TargetStore:
    """A store from a settings string: empty for in-memory, otherwise a JSON file path."""
    return JsonFileTargetStore(spec) if spec else MemoryTargetStore()


def _ordinal(percentile: float) -> str:
    n = round(percentile)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def seed_of(key: str) -> int:
    """A stable 64-bit seed from a string (an artist id)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _ranked(artist: np.ndarray, styles: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Style names, their distances from ``artist``, and each one's percentile rank of distance."""
    if not styles:
        raise ConfigurationError("the style catalogue is empty")
    names = list(styles)
    distances = np.array([float(np.linalg.norm(styles[name] - artist)) for name in names])
    percentiles = 100.0 * distances.argsort().argsort() / max(len(names) - 1, 1)
    return names, distances, percentiles


def choose(artist: np.ndarray, styles: Mapping[str, np.ndarray], seed_key: str) -> TargetChoice:
    """Pick a style 50–75% of the way out from ``artist`` in feature space, seeded by ``seed_key``."""
    names, distances, percentiles = _ranked(artist, styles)
    low, high = np.percentile(distances, PERCENTILE_BAND)
    band = [i for i, d in enumerate(distances) if low <= d <= high]
    if not band:  # a tiny catalogue: take the style nearest the band's middle
        band = [int(np.argmin(np.abs(distances - (low + high) / 2)))]
    pick = band[int(np.random.default_rng(seed_of(seed_key)).integers(0, len(band)))]
    percentile = float(percentiles[pick])
    reason = (
        f"chosen from {len(band)} of {len(names)} styles at the {PERCENTILE_BAND[0]:g}–{PERCENTILE_BAND[1]:g}th "
        f"percentile of distance from the artist ({_ordinal(percentile)})"
    )
    return TargetChoice(names[pick], reason, percentile, float(distances[pick]))


def record(choice: TargetChoice, extractor: str) -> TargetRecord:
    return TargetRecord(choice.style, extractor, time.time(), choice.percentile)


def far_candidates(
    artist: np.ndarray, styles: Mapping[str, np.ndarray], seed_key: str, limit: int = REACH_CANDIDATES
) -> list[TargetChoice]:
    """Styles at or beyond the band's lower percentile of distance from ``artist``, nearest first:
    all of them, or a sample of ``limit`` seeded by ``seed_key``."""
    names, distances, percentiles = _ranked(artist, styles)
    low = np.percentile(distances, PERCENTILE_BAND[0])
    far = [i for i in np.argsort(distances, kind="stable") if distances[i] >= low]
    if len(far) > limit:
        keep = np.random.default_rng(seed_of(seed_key)).choice(len(far), size=limit, replace=False)
        far = [far[j] for j in sorted(keep)]
    return [TargetChoice(names[i], "", float(percentiles[i]), float(distances[i])) for i in far]


def most_reachable(candidates: list[TargetChoice], shifts: list[float]) -> TargetChoice:
    """The candidate whose trial cloak moved furthest (the nearest on a tie)."""
    best = int(np.argmax(shifts))
    pick = candidates[best]
    reason = (
        f"the most reachable of {len(candidates)} styles at or beyond the {PERCENTILE_BAND[0]:g}th percentile "
        f"of distance from the artist ({_ordinal(pick.percentile or 0.0)}; trial shift {shifts[best]:.3f})"
    )
    return TargetChoice(pick.style, reason, pick.percentile, pick.distance)
