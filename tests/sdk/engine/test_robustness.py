"""Robustness profiles: named and written-out slots, and the optimiser drawing one per slot each step."""

from __future__ import annotations

import pytest
import torch
from stylecloak.engine import transforms
from stylecloak.engine.cloaker import Cloaker
from stylecloak.errors import ConfigurationError

from tests.conftest import encoded, painting


def names(profile: transforms.Profile) -> list[list[str]]:
    return [[t.name for t in slot] for slot in profile]


def test_written_out_profile_parses_into_slots() -> None:
    profile = transforms.profile("save;jpeg75, webp80;width400+jpeg85", "JPEG", 90)
    assert names(profile) == [["quantize", "jpeg90"], ["jpeg75", "webp80"], ["width400+jpeg85"]]
    assert not profile[2][0].keeps_size
    assert names(transforms.profile("save", "PNG", 0)) == [["quantize"]]


@pytest.mark.parametrize("spec", ["jpeg74", "save;;jpeg75", "width400+blur7"])
def test_bad_profiles_are_configuration_errors(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="robustness profile"):
        transforms.profile(spec, "JPEG", 90)


def test_named_profiles() -> None:
    output = names(transforms.profile("output", "WEBP", 80))
    platform = names(transforms.profile("platform", "JPEG", 92))
    assert output == [["quantize", "webp80"]]
    assert len(platform) == 1 and "width400+jpeg85" in platform[0] and "jpeg92" in platform[0]
    with pytest.raises(ConfigurationError):
        transforms.profile("platform-thumbnails", "JPEG", 92)  # removed: dominated by platform


def test_each_step_draws_one_transformation_per_slot(fast_settings) -> None:  # type: ignore[no-untyped-def]
    cloaker = Cloaker(fast_settings.replace(robustness="save;jpeg75,webp80"))
    result = cloaker.cloak(encoded(painting(160, 128, seed=5)), steps=6, target_style="hatching")
    assert result.trace is not None and len(result.trace.transform) == 6
    for drawn in result.trace.transform:
        first, second = drawn.split(", ")
        assert first == "quantize" and second in {"jpeg75", "webp80"}
    assert result.report.robustness == "save;jpeg75,webp80"
    assert result.report.latent_shift > 0


def test_a_misspelt_profile_fails_when_the_cloaker_is_built(fast_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="platfrom"):
        Cloaker(fast_settings.replace(robustness="platfrom"))


def test_a_rendition_too_long_for_the_codec_passes_unchanged() -> None:
    strip = torch.rand(1, 3, 8, transforms.CODEC_MAX_SIDE["WEBP"] + 1)
    assert torch.equal(transforms.codec_roundtrip(strip, "WEBP", 80), strip)
    fits = torch.rand(1, 3, 8, 64)
    assert not torch.equal(transforms.codec_roundtrip(fits, "WEBP", 80), fits)
