"""Real cloaks with the real TAEF2 weights (few steps, small grid, so each takes well under a second)."""

from __future__ import annotations

import io
import logging
from logging.handlers import BufferingHandler
from pathlib import Path

import numpy as np
import pytest
import stylecloak
from PIL import Image, ImageCms, ImageDraw
from stylecloak import errors, images, xmp
from stylecloak.engine import metrics, presets, targets
from stylecloak.engine.cloaker import Cloaker

from tests.conftest import ART, encoded, painting


def test_cloak_changes_pixels_within_budget_and_moves_latents(cloaker: Cloaker, png_bytes: bytes) -> None:
    result = cloaker.cloak(png_bytes, steps=8)
    report = result.report
    assert result.format == "PNG" and result.content_type == "image/png"
    assert report.size == (160, 128)
    assert report.latent_shift > 0.05
    assert report.budget_kind == "ssim" and report.budget_value <= report.budget_p
    assert 0 < report.max_abs_change <= report.linf + 1 / 255  # the rail, plus 8-bit rounding
    assert report.ssim > 0.9
    assert report.extractor == "taef2" and report.steps == 8
    assert report.target_style in cloaker.catalogue
    before = images.decode(png_bytes).rgb
    after = images.decode(result.data).rgb
    assert not np.array_equal(before, after)


def test_marker_round_trip_and_no_double_cloak(cloaker: Cloaker, png_bytes: bytes) -> None:
    assert not stylecloak.is_cloaked(png_bytes)
    result = cloaker.cloak(png_bytes, steps=2)
    marker = stylecloak.read_marker(result.data)
    assert marker is not None
    assert marker.version == stylecloak.__version__
    assert marker.settings_hash == result.report.settings_hash
    assert stylecloak.is_cloaked(result.data)
    with pytest.raises(errors.AlreadyCloakedError):
        cloaker.cloak(result.data, steps=2)
    assert cloaker.cloak(result.data, steps=2, force=True).report.size == (160, 128)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF"])
def test_marker_in_every_format(cloaker: Cloaker, fmt: str) -> None:
    result = cloaker.cloak(encoded(painting(), fmt), steps=1)
    assert Image.open(io.BytesIO(result.data)).format == fmt
    assert stylecloak.is_cloaked(result.data)


def test_same_input_seed_and_settings_give_identical_bytes(cloaker: Cloaker, jpeg_bytes: bytes) -> None:
    first = cloaker.cloak(jpeg_bytes, steps=4, seed=7, target_style="facets")
    second = cloaker.cloak(jpeg_bytes, steps=4, seed=7, target_style="facets")
    assert first.data == second.data
    third = cloaker.cloak(jpeg_bytes, steps=4, seed=8, target_style="facets")
    assert third.data != first.data


def test_target_is_chosen_once_per_artist_and_persisted(fast_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path = tmp_path / "targets.json"
    cloaker = Cloaker(fast_settings.replace(target_store=str(store_path)))
    first = cloaker.cloak(encoded(painting(seed=1)), artist_id="ada", steps=1)
    assert "percentile" in first.report.target_reason
    # A different artwork by the same artist keeps the same target, even in a new process' Cloaker.
    again = Cloaker(fast_settings.replace(target_store=str(store_path)))
    second = again.cloak(encoded(painting(seed=99)), artist_id="ada", steps=1)
    assert second.report.target_style == first.report.target_style
    assert "stored for artist 'ada'" in second.report.target_reason
    assert targets.JsonFileTargetStore(store_path).get("ada").style == first.report.target_style  # type: ignore[union-attr]


def test_explicit_target_style_overrides(cloaker: Cloaker, png_bytes: bytes) -> None:
    result = cloaker.cloak(png_bytes, target_style="neon", artist_id="someone", steps=1)
    assert result.report.target_style == "neon"
    assert result.report.target_reason == "explicit target style"
    with pytest.raises(errors.UnknownStyleError):
        cloaker.cloak(png_bytes, target_style="not-a-style", steps=1)


def test_metadata_survives_the_cloak(cloaker: Cloaker) -> None:
    image = Image.fromarray(painting(200, 150))
    exif = image.getexif()
    exif[0x010F] = "ACME"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    packet = xmp.merge_properties(None, xmp.KNOWN_PREFIXES["dc"], {"creator": "Ada"})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes(), icc_profile=icc, xmp=packet)
    result = cloaker.cloak(buffer.getvalue(), steps=1)
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "JPEG" and out.size == (200, 150)
    assert out.info["icc_profile"] == icc
    assert out.getexif()[0x010F] == "ACME"
    assert xmp.read_property(out.info["xmp"], xmp.KNOWN_PREFIXES["dc"], "creator") == "Ada"


def test_alpha_untouched_and_gray_stays_gray(cloaker: Cloaker) -> None:
    rgba = Image.fromarray(painting()).convert("RGBA")
    alpha = Image.radial_gradient("L").resize(rgba.size)
    rgba.putalpha(alpha)
    out = Image.open(io.BytesIO(cloaker.cloak(encoded(np.asarray(rgba)), steps=2).data))
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], np.asarray(alpha))
    gray = Image.open(io.BytesIO(cloaker.cloak(encoded(painting(), mode="L"), steps=2).data))
    assert gray.mode == "L"


def test_large_images_are_cloaked_on_the_working_grid(cloaker: Cloaker) -> None:
    result = cloaker.cloak(encoded(painting(900, 700), "PNG"), steps=4)
    assert result.report.size == (900, 700)
    # The perturbation is upsampled to full size without overshooting the L∞ rail.
    assert result.report.max_abs_change <= result.report.linf + 1 / 255
    assert max(result.report.working_size) <= 176 and min(result.report.working_size) == 128
    assert Image.open(io.BytesIO(result.data)).size == (900, 700)


def test_progress_is_reported(cloaker: Cloaker, png_bytes: bytes) -> None:
    seen: list[tuple[int, int]] = []
    cloaker.cloak(png_bytes, steps=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]  # the trials' ticks: tests/sdk/test_reach.py


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not an image at all", errors.InvalidImageError),
        (encoded(painting(), "JPEG")[:300], errors.TruncatedImageError),
        (encoded(painting(40, 40)), errors.ImageTooSmallError),
    ],
)
def test_bad_input_is_refused_with_a_typed_error(cloaker: Cloaker, data: bytes, error: type) -> None:
    with pytest.raises(error):
        cloaker.cloak(data, steps=1)


def test_presets_and_overrides(cloaker: Cloaker) -> None:
    low, high = cloaker.params(intensity="low"), cloaker.params(intensity="high")
    assert low.budget_p < high.budget_p and low.linf < high.linf
    assert cloaker.params(quality="fast").steps < cloaker.params(quality="slow").steps
    assert cloaker.params(steps=5, linf=0.02).steps == 5
    # The step follows the rail unless set: a user's smaller rail must not keep the default's step.
    assert cloaker.params(linf=0.02).lr == pytest.approx(0.02 * presets.STEP_SHARE)
    assert cloaker.params(linf=0.02, lr=0.001).lr == 0.001
    assert cloaker.params().lr == pytest.approx(cloaker.params().linf * presets.STEP_SHARE)
    with pytest.raises(errors.ConfigurationError):
        cloaker.params(intensity="extreme")
    with pytest.raises(errors.ConfigurationError):
        cloaker.params(unknown_knob=1)


@pytest.mark.skipif(not (ART / "the_scream.jpg").is_file(), reason="shared art not present")
def test_default_preset_holds_at_the_mimic_views_of_a_real_painting(shared_models: Path, session_cache: Path) -> None:
    """A regression guard for the mimic views, at a third of the painting's size to keep it to a minute:
    measured 0.273 mean, 0.259 worst, SSIM 0.952 at the ε/8 step, in bfloat16 on a 2-core AMD EPYC (float32 on
    a Xeon at the ε/4 step: 0.273, 0.254; the previous default, ``platform``: 0.179 and 0.154)."""
    with Image.open(ART / "the_scream.jpg") as opened:
        image = opened.convert("RGB")
    image = image.resize((320, round(320 * image.height / image.width)), Image.Resampling.LANCZOS)
    settings = stylecloak.Settings(
        models_dir=shared_models, cache_dir=session_cache, budget="ssim", mimic_resolutions=(256, 384)
    )
    report = Cloaker(settings).cloak(encoded(np.asarray(image), "JPEG", quality=92), target_style="pointillism").report
    assert report.robustness == "mimic" and report.steps == 48
    assert set(report.mimic_views) == {f"{r}/{f}" for r in ("256", "384", "native") for f in ("bilinear", "bicubic")}
    assert report.mimic_shift is not None and report.mimic_shift >= 0.22
    assert report.mimic_worst is not None and report.mimic_worst >= 0.15
    assert report.ssim >= 0.945 and report.max_abs_change <= 20 / 255


def line_drawing() -> bytes:
    """Black ink lines on white paper: the kind of art the default cloak fails on (docs/measurements.md)."""
    image = Image.new("RGB", (160, 128), "white")
    draw = ImageDraw.Draw(image)
    for k in range(6):
        draw.line([(10 + 20 * k, 10), (40 + 15 * k, 118)], fill="black", width=2)
    draw.ellipse([60, 30, 120, 90], outline="black", width=2)
    return encoded(np.asarray(image))


def cloak_logged(cloaker: Cloaker, data: bytes, **options: object) -> tuple[stylecloak.CloakReport, list[str]]:
    # Module-scoped fixtures use this, and pytest's caplog is function-scoped.
    handler = BufferingHandler(capacity=1000)
    logger = logging.getLogger("stylecloak.engine.cloaker")
    logger.addHandler(handler)
    try:
        report = cloaker.cloak(data, target_style="mosaic", **options).report
    finally:
        logger.removeHandler(handler)
    return report, [record.getMessage() for record in handler.buffer]


@pytest.fixture(scope="module")
def drawing_report(cloaker: Cloaker) -> tuple[stylecloak.CloakReport, list[str]]:
    return cloak_logged(cloaker, line_drawing())


def test_a_drawing_of_pure_black_and_white_is_cloaked(drawing_report: tuple[stylecloak.CloakReport, list[str]]) -> None:
    # Every pixel sits on a bound of [0, 1], where torch's clamp has no gradient: from δ = 0 the cloak
    # used to leave such a drawing unchanged (shift 0.000, SSIM 1.000). Measured at the ε/8 step, bfloat16
    # on an AMD EPYC: working-grid shift 0.088, mimic mean 0.037, SSIM 0.959 (ε/4, float32: 0.102, 0.046).
    report, _ = drawing_report
    assert report.max_abs_change > 0 and report.budget_value > 0.01
    assert report.latent_shift >= 0.05


def test_a_cloak_that_does_not_protect_says_so(
    cloaker: Cloaker, drawing_report: tuple[stylecloak.CloakReport, list[str]]
) -> None:
    # A rail below half a grey level: 8-bit rounding removes the whole cloak, so the shift is zero.
    report, messages = cloak_logged(cloaker, line_drawing(), steps=2, linf=0.4 / 255)
    assert report.mimic_shift == 0 and report.max_abs_change < 0.5 / 255
    assert any("not protected" in message for message in messages), messages
    report, messages = drawing_report
    assert report.mimic_shift is not None
    warned = any("not protected" in message for message in messages)
    assert warned == (report.mimic_shift <= 0), (report.mimic_shift, messages)


@pytest.mark.xfail(strict=True, reason="known failure: line art is barely protected, and not at upscaled views")
def test_a_line_drawing_is_protected(drawing_report: tuple[stylecloak.CloakReport, list[str]]) -> None:
    """Protected means moved toward the decoy on average and at every view. Measured on this drawing
    at the test settings: mean 0.037, worst view −0.066 (both 192 px views, upscaled from 160 px).
    The Scream at 320 px, above: 0.273 and 0.259. Strict: when a fix lifts both, this fails and the
    xfail comes off."""
    report, _ = drawing_report
    assert report.mimic_shift is not None and report.mimic_shift >= 0.05
    assert report.mimic_worst is not None and report.mimic_worst > 0


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_the_saved_file_holds_the_budget_despite_the_codec(cloaker: Cloaker, fmt: str) -> None:
    # A tight budget and a wide rail: the codec's own error on the cloaked pixels would push the
    # saved file over p (unchecked: 0.024 for JPEG, 0.031 for WebP) if nothing checked the file itself.
    report = cloaker.cloak(encoded(painting(), fmt, quality=90), steps=8, budget_p=0.02, linf=16 / 255).report
    assert 0 < report.budget_value <= report.budget_p
    assert report.latent_shift > 0.05  # shrunk to fit, not dropped


def test_a_gif_keeps_the_budget_and_its_report_shows_the_cloak_it_could_carry(cloaker: Cloaker) -> None:
    # The palette's dither costs more than the whole budget (unchecked: 1 - SSIM 0.14 at p 0.05), so
    # the file keeps the budget and the report shows how little cloak that leaves.
    report = cloaker.cloak(encoded(painting(), "GIF"), steps=8).report
    assert report.budget_value <= report.budget_p
    assert report.latent_shift < 0.05


def test_full_size_is_measured_at_the_uploads_own_size_above_4_megapixels(cloaker: Cloaker) -> None:
    # Uploads above 4 MP were checked and reported on an area-downscaled copy, which averages fine
    # texture away: a saved file could pass the budget there and miss it at its real size.
    import torch

    prepared = cloaker.prepare(cloaker.decode(encoded(painting(3000, 2000), "PNG")), cloaker.params())
    generator = torch.Generator().manual_seed(0)
    fine = torch.sign(torch.randn(*prepared.x_full.shape, generator=generator)) * 6 / 255
    x_saved = torch.round((prepared.x_full + fine).clamp(0, 1) * 255) / 255
    at_own_size = float(metrics.ssim_full(x_saved, prepared.x_full)[0])
    downscaled = torch.nn.functional.interpolate(torch.cat([x_saved, prepared.x_full]), scale_factor=0.5, mode="area")
    assert float(metrics.ssim(downscaled[:1], downscaled[1:])[0]) - at_own_size > 0.03  # what a copy hides
    measured = cloaker.measure(prepared, x_saved, list(prepared.z_clean))
    assert measured["ssim"] == pytest.approx(at_own_size, abs=1e-4)
    assert cloaker._spent(prepared, x_saved) >= 1 - at_own_size - 1e-6


def test_the_budget_holds_at_full_size_above_the_render_grid(cloaker: Cloaker) -> None:
    # The render grid stops at render_cap (128 px here, 1024 by default); above it the budget used to be
    # checked on the render grid only, and The Scream at 1200×1528 left at full-size SSIM 0.948 (p = 0.05).
    scream = Image.open(ART / "the_scream.jpg").convert("RGB").resize((256, 326), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    scream.save(buffer, "PNG")
    report = cloaker.cloak(buffer.getvalue(), steps=8, force=True).report
    assert report.size == (256, 326)
    # The budget spent counts the saved file's full-size distance (the report's SSIM): 0.0305 against
    # 1 - SSIM 0.0392 when it was measured on the render grid.
    assert report.budget_value >= 1 - report.ssim - 1e-3
    assert report.budget_value <= report.budget_p
