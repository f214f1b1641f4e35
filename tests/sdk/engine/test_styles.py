from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stylecloak import errors
from stylecloak.engine.styles import BUILTIN, TEXT_STYLES, Catalogue, reference_style

from tests.conftest import encoded, painting


def test_catalogue_has_at_least_twelve_distinct_procedural_styles() -> None:
    assert len(BUILTIN) >= 12
    pictures = {style.name: np.asarray(style.render(128), dtype=np.float32) for style in BUILTIN}
    names = list(pictures)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(pictures[a] - pictures[b]).mean() > 10, f"{a} and {b} look alike"
    # Each style is a picture with structure, not a flat colour.
    assert all(p.std() > 8 for p in pictures.values())


def test_rendering_is_deterministic() -> None:
    for style in BUILTIN:
        assert np.array_equal(np.asarray(style.render(96)), np.asarray(style.render(96))), style.name


def test_reference_styles_join_the_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "my style.png"
    path.write_bytes(encoded(painting(200, 100)))
    catalogue = Catalogue(references=[path])
    style = catalogue.get("ref:my style")
    assert style.render(64).size == (64, 64)
    assert style in catalogue.pictured()
    with pytest.raises(errors.ConfigurationError):
        reference_style(tmp_path / "missing.png")


def test_unknown_style_lists_the_known_ones() -> None:
    with pytest.raises(errors.UnknownStyleError, match="facets"):
        Catalogue().get("nope")


def test_text_styles_have_prompts_and_no_picture() -> None:
    assert all(style.prompt for style in TEXT_STYLES)
    with pytest.raises(errors.ConfigurationError):
        TEXT_STYLES[0].render()
