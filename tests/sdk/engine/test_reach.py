"""The trial cloak that picks a reachable target, with the real TAEF2 weights on small images."""

from __future__ import annotations

import numpy as np
import pytest
from stylecloak.engine import reach, targets
from stylecloak.engine.cloaker import Cloaker
from stylecloak.engine.style_transfer import LatentStats

from tests.conftest import encoded, painting


@pytest.fixture(scope="module")
def reachable(fast_settings) -> Cloaker:  # type: ignore[no-untyped-def]
    """The fast test settings with the default target rule (the other tests use the seeded one)."""
    return Cloaker(fast_settings.replace(target_choice="reachable"))


def _trial(cloaker: Cloaker, data: bytes, names: list[str]) -> list[float]:
    params = cloaker.params()
    prepared = cloaker.prepare(cloaker.decode(data), params)
    styles = [cloaker.catalogue.get(name) for name in names]
    return reach.trial_shifts(cloaker.terms[0], prepared.decoded, prepared.x_full, styles, cloaker.budget, params)


def test_trial_moves_toward_every_candidate_and_is_deterministic(reachable: Cloaker, png_bytes: bytes) -> None:
    cloaker = reachable
    names = ["neon", "charcoal", "pointillism"]
    shifts = _trial(cloaker, png_bytes, names)
    assert len(shifts) == 3
    assert all(0 < s < 1 for s in shifts)
    assert _trial(cloaker, png_bytes, names) == shifts
    # One style at a time gives the same figure as in the batch: candidates do not interact.
    assert abs(_trial(cloaker, png_bytes, ["charcoal"])[0] - shifts[1]) < 0.02


def test_cloaker_keeps_the_far_candidate_its_trial_moves_furthest(reachable: Cloaker) -> None:
    cloaker = reachable
    data = encoded(painting(seed=3))
    result = cloaker.cloak(data, steps=1)
    assert "most reachable" in result.report.target_reason

    prepared = cloaker.prepare(cloaker.decode(data), cloaker.params())
    artist = LatentStats.of(prepared.z_clean[0]).vector()
    candidates = targets.far_candidates(artist, cloaker.style_vectors(), f"image:{prepared.decoded.sha256}")
    shifts = _trial(cloaker, data, [c.style for c in candidates])
    assert result.report.target_style == candidates[int(np.argmax(shifts))].style
    assert f"trial shift {max(shifts):.3f}" in result.report.target_reason


def test_seeded_rule_is_the_papers_band(fast_settings) -> None:  # type: ignore[no-untyped-def]
    cloaker = Cloaker(fast_settings.replace(target_choice="seeded"))
    result = cloaker.cloak(encoded(painting(seed=3)), steps=1)
    assert "50–75th percentile" in result.report.target_reason
    assert result.report.target_style in cloaker.catalogue


def test_the_trial_calls_progress_so_an_aborting_callback_is_heard(reachable: Cloaker) -> None:
    cloaker = reachable
    calls: list[tuple[int, int]] = []

    def abort(done: int, total: int) -> None:
        calls.append((done, total))
        raise RuntimeError("released")

    with pytest.raises(RuntimeError, match="released"):
        cloaker.cloak(encoded(painting(seed=6)), steps=3, progress=abort)
    assert calls == [(0, 3)], "the first call comes from the trial, before any step of the cloak"


def test_the_trials_tick_at_step_zero_then_the_cloak_counts_its_steps(reachable: Cloaker, png_bytes: bytes) -> None:
    seen: list[tuple[int, int]] = []
    reachable.cloak(png_bytes, steps=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 3)] * 6 + [(1, 3), (2, 3), (3, 3)]  # one tick per trial step
