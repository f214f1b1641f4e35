from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stylecloak import errors
from stylecloak.engine import targets


def styles() -> dict[str, np.ndarray]:
    # Twenty styles at distances 1..20 from the origin, along one axis.
    return {f"s{d:02d}": np.array([float(d), 0.0]) for d in range(1, 21)}


def test_choice_lies_in_the_50th_to_75th_percentile() -> None:
    artist = np.zeros(2)
    chosen = {targets.choose(artist, styles(), f"artist-{i}").style for i in range(200)}
    distances = sorted(int(name[1:]) for name in chosen)
    low, high = np.percentile(np.arange(1, 21), [50, 75])
    assert all(low <= d <= high for d in distances)
    assert len(chosen) > 1, "different artists spread over the band"


def test_choice_is_seeded_by_the_artist() -> None:
    artist = np.zeros(2)
    first = targets.choose(artist, styles(), "ada")
    assert all(targets.choose(artist, styles(), "ada") == first for _ in range(5))
    assert "percentile" in first.reason


def test_empty_catalogue_is_an_error() -> None:
    with pytest.raises(errors.ConfigurationError):
        targets.choose(np.zeros(2), {}, "ada")
    with pytest.raises(errors.ConfigurationError):
        targets.far_candidates(np.zeros(2), {}, "ada")


def test_far_candidates_lie_at_or_beyond_the_50th_percentile() -> None:
    low = np.percentile(np.arange(1, 21), 50)
    everything = targets.far_candidates(np.zeros(2), styles(), "ada", limit=100)
    distances = [c.distance for c in everything]
    assert distances == sorted(distances), "nearest first"
    assert {int(c.style[1:]) for c in everything} == {d for d in range(1, 21) if d >= low}
    assert all(c.percentile is not None and c.percentile >= 50 for c in everything)


def test_far_candidates_are_a_seeded_sample_when_there_are_many() -> None:
    def sample(key: str) -> list[str]:
        return [c.style for c in targets.far_candidates(np.zeros(2), styles(), key, limit=4)]

    assert len(sample("ada")) == 4
    assert sample("ada") == sample("ada")
    assert len({tuple(sample(f"artist-{i}")) for i in range(20)}) > 1


def test_the_most_reachable_candidate_wins_and_the_nearest_breaks_ties() -> None:
    candidates = targets.far_candidates(np.zeros(2), styles(), "ada", limit=100)
    shifts = [0.1] * len(candidates)
    shifts[3] = 0.4
    pick = targets.most_reachable(candidates, shifts)
    assert pick.style == candidates[3].style
    assert "trial shift 0.400" in pick.reason and "th percentile" in pick.reason
    assert targets.most_reachable(candidates, [0.2] * len(candidates)).style == candidates[0].style


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_stores_keep_the_record(kind: str, tmp_path: Path) -> None:
    store = targets.open_store(str(tmp_path / "t.json") if kind == "file" else "")
    assert store.get("ada") is None
    store.put("ada", targets.TargetRecord("facets", "taef2", 1.0, 60.0))
    store.put("bob", targets.TargetRecord("cel", "taef2", 2.0, 70.0))
    assert store.get("ada") == targets.TargetRecord("facets", "taef2", 1.0, 60.0)
    if kind == "file":
        reopened = targets.JsonFileTargetStore(tmp_path / "t.json")
        assert reopened.get("bob") == targets.TargetRecord("cel", "taef2", 2.0, 70.0)
        assert set(json.loads((tmp_path / "t.json").read_text())) == {"ada", "bob"}
        assert [p.name for p in tmp_path.iterdir()] == ["t.json"], "no temp files left"


def test_corrupt_store_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(errors.ConfigurationError, match="not valid JSON"):
        targets.JsonFileTargetStore(tmp_path / "t.json").get("ada")
