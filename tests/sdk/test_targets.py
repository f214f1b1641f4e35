from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stylecloak import errors, targets


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
