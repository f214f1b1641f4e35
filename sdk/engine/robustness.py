"""What the optimiser sees the cloak through, by the ``robustness`` setting.

- ``mimic`` (the default): the views trainers feed their models (:func:`views.mimic_profile`),
  after the output's own save; δ lives on the render grid, where every trainer's resize starts.
- ``platform``, ``output`` or slots written out (``save;jpeg75,webp80;width400+jpeg85``): the
  working-grid profiles of :mod:`stylecloak.engine.transforms`, each transformation followed by the
  working grid; δ lives on the working grid. Cheaper, and they protect that one view only: what a
  trainer's own resize leaves of such a cloak is mostly gone (``stylecloak eval`` shows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stylecloak.engine import transforms, views
from stylecloak.engine.geometry import Grid
from stylecloak.engine.optimize import OnWorkingGrid, Seen
from stylecloak.engine.transforms import Transform

MIMIC = "mimic"
# One training resolution per step, in turn: a full pass per resolution per step costs four times
# as much for about the same protection per pass (measured on Starry Night at half size: 128 steps of
# one view 0.239 mean shift over the standard views, 32 steps of all four 0.223).
MIMIC_SLOTS_PER_STEP = 1
NAMES = (MIMIC, *transforms.PROFILES)


@dataclass(frozen=True, slots=True)
class Plan:
    slots: Sequence[Sequence[Seen]]
    delta_on: Literal["working", "render"]
    saved: Transform | None  # applied before every path (the output's own save)
    slots_per_step: int | None = None  # None: every slot every step


def plan(name: str, grid: Grid, fmt: str, quality: int, resolutions: Sequence[int] = views.RESOLUTIONS) -> Plan:
    """The optimiser's paths for an output of ``fmt`` at ``quality`` on ``grid``."""
    if name == MIMIC:
        return Plan(views.mimic_profile(resolutions), "render", transforms.own_save(fmt, quality), MIMIC_SLOTS_PER_STEP)
    profile = transforms.profile(name, fmt, quality)
    return Plan([[OnWorkingGrid(t, grid) for t in slot] for slot in profile], "working", None)


def check(name: str) -> None:
    """Raise :class:`ConfigurationError` for a profile that names nothing known (at start-up)."""
    if name != MIMIC:
        transforms.profile(name, "PNG", 0)
