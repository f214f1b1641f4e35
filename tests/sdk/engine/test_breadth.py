"""Ensembles, batched cloaking and rendition targets inside the Cloaker (tiny models, real TAEF2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stylecloak import errors
from stylecloak.engine.cloaker import Cloaker
from stylecloak.engine.targeting import parse_extractors
from stylecloak.result import CloakResult

from tests.conftest import encoded, painting

diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A differently shaped second extractor: a tiny AutoencoderKL with random weights, saved to a folder."""
    import torch

    torch.manual_seed(3)
    model = diffusers.AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=32,
    )
    folder = tmp_path_factory.mktemp("tiny-vae")
    model.save_pretrained(folder)
    return folder


def test_parse_extractors() -> None:
    assert parse_extractors("taef2") == [("taef2", 1.0)]
    assert parse_extractors("taef2, sd-vae:0.5") == [("taef2", 1.0), ("sd-vae", 0.5)]
    assert parse_extractors("hf:org/name:2") == [("hf:org/name", 2.0)]
    assert parse_extractors("hf:org/name") == [("hf:org/name", 1.0)]
    with pytest.raises(errors.ConfigurationError):
        parse_extractors("taef2:-1")
    with pytest.raises(errors.ConfigurationError):
        parse_extractors(" , ")


def test_ensemble_moves_every_latent_space(fast_settings, tiny_vae: Path) -> None:  # type: ignore[no-untyped-def]
    # The profile with the output's own save only: a random tiny VAE is what is under test here, and
    # the platform profile's re-encodes move it little on so small an image.
    cloaker = Cloaker(fast_settings.replace(extractor=f"taef2,{tiny_vae}:1", robustness="output"))
    result = cloaker.cloak(encoded(painting(192, 160, seed=4)), steps=30, target_style="hatching")
    shifts = result.report.shifts
    assert set(shifts) == {"taef2", str(tiny_vae)}
    assert all(value > 0 for value in shifts.values()), shifts
    assert result.report.extractor == f"taef2+{tiny_vae}"
    assert min(shifts.values()) <= result.report.latent_shift <= max(shifts.values())


def test_batched_cloak_matches_one_at_a_time(cloaker: Cloaker) -> None:
    pictures = [encoded(painting(160, 128, seed=s)) for s in range(3)]
    styles = ["facets", "neon", "hatching"]
    batched = cloaker.cloak_many(pictures, target_styles=styles, steps=6)
    single = [cloaker.cloak(p, target_style=s, steps=6) for p, s in zip(pictures, styles, strict=True)]
    for b, s in zip(batched, single, strict=True):
        assert isinstance(b, CloakResult)
        assert b.report.target_style == s.report.target_style
        # Same optimisation problem per row: the shift agrees within noise.
        assert abs(b.report.latent_shift - s.report.latent_shift) < 0.05
        assert b.report.latent_shift > 0


def test_batch_buckets_sizes_and_isolates_failures(cloaker: Cloaker) -> None:
    seen: list[tuple[int, int]] = []
    items = [
        encoded(painting(160, 128, seed=1)),
        b"not an image",
        encoded(painting(200, 96, seed=2), "JPEG"),
        encoded(painting(160, 128, seed=3), "WEBP"),
    ]
    results = cloaker.cloak_many(items, steps=2, progress=lambda done, total: seen.append((done, total)))
    assert isinstance(results[1], errors.InvalidImageError)
    assert [r.format for r in results if isinstance(r, CloakResult)] == ["PNG", "JPEG", "WEBP"]
    assert [r.report.size for r in results if isinstance(r, CloakResult)] == [(160, 128), (200, 96), (160, 128)]
    # Two grids → two batches of 2 steps each; progress counts over both.
    steps = [tick for tick in seen if tick[0] > 0]  # step-0 ticks come from the target trials
    assert steps[-1] == (4, 4) and len(steps) == 4


def test_caller_given_rendition_is_the_target(cloaker: Cloaker) -> None:
    original = painting(160, 128, seed=5)
    rendition = np.asarray(painting(160, 128, seed=6))[:, ::-1]  # any picture of the same shape
    result = cloaker.cloak(encoded(original), target_image=encoded(np.ascontiguousarray(rendition)), steps=8)
    assert result.report.style_transfer == "image"
    assert result.report.target_reason == "rendition given by the caller"
    assert result.report.latent_shift > 0
    with pytest.raises(errors.ConfigurationError, match="aspect ratio"):
        cloaker.cloak(encoded(original), target_image=encoded(painting(64, 200)), steps=1)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_img2img_target_through_the_cloaker(fast_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The paper's Ω: a real diffusers img2img pipeline (tiny random parts) renders the target."""
    pytest.importorskip("transformers")
    from tests.sdk.engine.test_img2img import tiny_pipeline

    folder = tmp_path / "tiny-sd"
    tiny_pipeline().save_pretrained(folder)  # type: ignore[attr-defined]
    monkeypatch.setenv("STYLECLOAK_IMG2IMG_PIPELINE", str(folder))
    monkeypatch.setenv("STYLECLOAK_IMG2IMG_STEPS", "4")
    monkeypatch.setenv("STYLECLOAK_IMG2IMG_RENDER_SIDE", "64")
    cloaker = Cloaker(fast_settings.replace(style_transfer="img2img", cache_dir=tmp_path / "cache"))
    result = cloaker.cloak(encoded(painting(160, 128, seed=7)), artist_id="pablo", steps=6)
    report = result.report
    assert report.style_transfer == "img2img"
    assert report.target_style in {"cubism-picasso", "impressionism-monet", "ukiyo-e-hokusai", "pop-art-warhol",
                                   "abstract-expressionism-pollock"}  # fmt: skip
    assert report.latent_shift > 0
    again = cloaker.cloak(encoded(painting(160, 128, seed=8)), artist_id="pablo", steps=1)
    assert again.report.target_style == report.target_style, "the artist keeps their text style"
    assert cloaker.renderer().renders == 2, "one rendition per artwork, cached"
    with pytest.raises(errors.ConfigurationError, match="not a text style"):
        cloaker.cloak(encoded(painting(160, 128)), target_style="facets", steps=1)
