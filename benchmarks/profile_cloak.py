"""Where one default cloak's time goes, on each dtype path this CPU has.

One cloak of a 1024×640 artwork (Starry Night) and of a 512×512 crop, for a new artist (the target
choice included), at the default preset. Each phase of the cloak (decode, target choice, preparing
the clean latents, the optimisation, saving within the budget, sealing the marker, the report's
mimic views) is split into what ran inside it: Φ forward, the backward pass, the perceptual budget,
the mimic views' resampling, the codec and platform simulation, and the rest. Times are self times
(a codec inside a view counts once, as codec), from wrappers around those functions.

    python benchmarks/profile_cloak.py [--dtype auto|float32|bfloat16|both] [--only 512×512]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from _common import art_crop, ensure_models_dir, machine, table
from bench_cloak import artworks, encoded

COMPONENTS = ("Φ forward", "backward", "budget", "views", "codecs")
PHASES = ("decode", "target choice", "prepare", "optimise", "save + budget check", "seal", "report views")


class Profile:
    """Self time per (phase, component), from a stack of open frames."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str], float] = defaultdict(float)
        self._stack: list[list[Any]] = []  # [kind, name, start, children]
        self._originals: list[tuple[Any, str, Any]] = []

    @contextmanager
    def frame(self, kind: str, name: str) -> Iterator[None]:
        self._stack.append([kind, name, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            kind_, name_, start, children = self._stack.pop()
            elapsed = time.perf_counter() - start
            phase = name_ if kind_ == "phase" else self._phase()
            component = name_ if kind_ == "component" else "other"
            self.totals[(phase, component)] += elapsed - children
            if self._stack:
                self._stack[-1][3] += elapsed

    def _phase(self) -> str:
        return next((f[1] for f in reversed(self._stack) if f[0] == "phase"), "outside")

    def wrap(self, owner: Any, attribute: str, kind: str, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, attribute)
        self._originals.append((owner, attribute, original))
        profile = self

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with profile.frame(kind, name):
                return original(*args, **kwargs)

        setattr(owner, attribute, wrapped)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._originals):
            setattr(owner, attribute, original)
        self._originals.clear()


def instrument(profile: Profile) -> None:
    from stylecloak import marker
    from stylecloak.engine import budget, cloaker, transforms, views
    from stylecloak.models import extractors

    profile.wrap(cloaker.Cloaker, "decode", "phase", "decode")
    profile.wrap(cloaker.Cloaker, "choose_target", "phase", "target choice")
    profile.wrap(cloaker.Cloaker, "prepare", "phase", "prepare")
    profile.wrap(cloaker, "optimise", "phase", "optimise")
    profile.wrap(cloaker.Cloaker, "_saved_within_budget", "phase", "save + budget check")
    profile.wrap(marker, "seal", "phase", "seal")
    profile.wrap(cloaker.Cloaker, "measure", "phase", "report views")
    profile.wrap(extractors.FeatureExtractor, "encode", "component", "Φ forward")
    profile.wrap(torch.Tensor, "backward", "component", "backward")
    profile.wrap(budget.SSIMBudget, "distance", "component", "budget")
    profile.wrap(budget.LPIPSBudget, "distance", "component", "budget")
    profile.wrap(views.View, "__call__", "component", "views")
    profile.wrap(transforms.Transform, "__call__", "component", "codecs")


def run(dtype: str, data: bytes) -> tuple[float, dict[tuple[str, str], float], str]:
    from stylecloak.engine.cloaker import Cloaker
    from stylecloak.settings import get_settings

    cloaker = Cloaker(get_settings(dtype=dtype))
    cloaker.cloak(encoded(art_crop(128)), steps=1, force=True)  # style statistics, as bench_cloak
    profile = Profile()
    instrument(profile)
    try:
        started = time.perf_counter()
        cloaker.cloak(data, artist_id=f"new-{uuid.uuid4().hex}", force=True)
        seconds = time.perf_counter() - started
    finally:
        profile.restore()
    return seconds, dict(profile.totals), cloaker.compute.dtype_label


def breakdown(seconds: float, totals: dict[tuple[str, str], float]) -> str:
    rows = []
    for phase in (*PHASES, "outside"):
        cells = [totals.get((phase, c), 0.0) for c in (*COMPONENTS, "other")]
        if sum(cells) < 0.05:
            continue
        rows.append([phase, *[f"{c:.1f}" for c in cells], f"{sum(cells):.1f}", f"{100 * sum(cells) / seconds:.0f}%"])
    sums = [sum(v for (p, c), v in totals.items() if c == comp) for comp in (*COMPONENTS, "other")]
    rows.append(["all", *[f"{s:.1f}" for s in sums], f"{sum(sums):.1f}", "100%"])
    rows.append(["share", *[f"{100 * s / seconds:.0f}%" for s in sums], "", ""])
    return table(rows, ["phase (s)", *COMPONENTS, "other", "total", "share"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dtype", default="both", choices=["auto", "float32", "bfloat16", "both"])
    parser.add_argument("--only", nargs="+", metavar="W×H", help="Only these artworks (e.g. 512×512).")
    args = parser.parse_args()
    ensure_models_dir()
    print(f"profile_cloak: {machine()}")
    dtypes = ["float32", "bfloat16"] if args.dtype == "both" else [args.dtype]
    for name, data in artworks().items():
        if args.only and name not in args.only:
            continue
        for dtype in dtypes:
            seconds, totals, label = run(dtype, data)
            print(f"\n{name}, default preset, new artist, {label}: {seconds:.1f} s")
            print(breakdown(seconds, totals), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
