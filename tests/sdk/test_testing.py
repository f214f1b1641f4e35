"""stylecloak.testing: the fake engine keeps the real contract (inputs, errors, output, marker) and
says plainly that it protects nothing."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stylecloak.errors import (
    AlreadyCloakedError,
    ConfigurationError,
    ImageTooLargeError,
    InvalidImageError,
    ModelNotFoundError,
    TruncatedImageError,
)
from stylecloak.marker import is_cloaked
from stylecloak.options import CloakOptions
from stylecloak.testing import FAKE_AMPLITUDE, FakeClient

from tests.conftest import encoded, painting


@pytest.fixture
def fake(tmp_path: Path) -> FakeClient:
    return FakeClient(cache_dir=tmp_path)


def test_same_input_same_bytes_in_the_same_format_with_a_marker(fake: FakeClient) -> None:
    jpeg = encoded(painting(seed=5), "JPEG", quality=90)
    first, second = fake.cloak(jpeg, steps=2), fake.cloak(jpeg, steps=2)
    assert first.data == second.data and first.format == "JPEG" and first.content_type == "image/jpeg"
    assert is_cloaked(first.data, key=fake.settings) and not is_cloaked(jpeg, key=fake.settings)
    report = first.report
    assert report.extractor == "fake" and report.latent_shift == 0.0 and report.mimic_shift is None
    assert report.steps == 2 and report.size == (160, 128)


def test_pixels_move_a_little_and_no_more(fake: FakeClient) -> None:
    png = encoded(painting(seed=6))
    out = fake.cloak(png).data
    change = np.abs(np.asarray(Image.open(io.BytesIO(out)), dtype=float) - np.asarray(Image.open(io.BytesIO(png))))
    assert 0 < change.max() <= round(FAKE_AMPLITUDE * 255)


def test_bad_input_gets_the_engines_typed_errors(fake: FakeClient) -> None:
    png = encoded(painting(seed=7))
    with pytest.raises(InvalidImageError):
        fake.cloak(b"not an image at all" * 10)
    with pytest.raises(TruncatedImageError):
        fake.cloak(png[: len(png) // 2])
    with pytest.raises(ImageTooLargeError):
        FakeClient(max_pixels=1000).cloak(png)
    with pytest.raises(ConfigurationError, match="stepz"):
        fake.cloak(png, stepz=3)
    assert len(fake.fake.calls) == 2  # the bad option was refused by the client, before the engine


def test_a_cloaked_upload_is_recognised_and_force_cloaks_it_again(fake: FakeClient) -> None:
    out = fake.cloak(encoded(painting(seed=8))).data
    with pytest.raises(AlreadyCloakedError):
        fake.cloak(out)
    assert fake.cloak(out, force=True).report.input_marker == "verified"


def test_options_rights_progress_and_calls_are_kept(fake: FakeClient) -> None:
    from stylecloak.rights import RightsPolicy

    seen: list[tuple[int, int]] = []
    result = fake.cloak(
        encoded(painting(seed=9)),
        options=CloakOptions(quality="fast", target_style="hatching"),
        artist_id="ada",
        rights=RightsPolicy(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.report.target_style == "hatching" and result.report.quality == "fast"
    assert result.report.rights is not None and b"DMI-PROHIBITED-AIMLTRAINING" in result.data
    assert seen[-1] == (24, 24) and len(seen) == 24
    call = fake.fake.calls[-1]
    assert call.artist_id == "ada" and call.quality == "fast"
    assert call.rights is None  # the client writes the rights after the engine, not the engine


def test_fail_with_raises_for_every_cloak_and_cloak_many_keeps_errors_apart(tmp_path: Path) -> None:
    broken = FakeClient(cache_dir=tmp_path, fail_with=ModelNotFoundError("no weights"))
    with pytest.raises(ModelNotFoundError):
        broken.cloak(encoded(painting(seed=10)))
    results = FakeClient(cache_dir=tmp_path).fake.cloak_many([encoded(painting(seed=11)), b"junk" * 40])
    assert results[0].report.extractor == "fake" and isinstance(results[1], InvalidImageError)  # type: ignore[union-attr]


def test_it_needs_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from stylecloak.testing import FakeClient; from tests.conftest import encoded, painting;"
        f"FakeClient(cache_dir={str(tmp_path)!r}).cloak(encoded(painting()));"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
