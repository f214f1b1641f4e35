"""The TAEF2 module loads the real pinned weights and behaves as an autoencoder of that quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stylecloak import errors
from stylecloak.engine.geometry import Grid, to_tensor
from stylecloak.images import decode
from stylecloak.models import device, extractors
from stylecloak.settings import Settings

from tests.conftest import ART


@pytest.fixture(scope="module")
def taef2(shared_models: Path) -> extractors.FeatureExtractor:
    settings = Settings(models_dir=shared_models, dtype="float32")
    return extractors.load("taef2", settings, device.resolve(settings))


def test_latents_have_the_documented_shape_and_range(taef2: extractors.FeatureExtractor) -> None:
    z = taef2.encode(torch.rand(2, 3, 64, 96))
    assert z.shape == (2, 32, 8, 12)
    assert float(z.abs().max()) < 10


def test_weights_are_frozen_and_channels_last(taef2: extractors.FeatureExtractor) -> None:
    assert all(not p.requires_grad for p in taef2.encoder.parameters())
    conv = taef2.encoder[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not (ART / "the_scream.jpg").is_file(), reason="shared art not present")
def test_round_trip_quality_matches_the_published_figure(taef2: extractors.FeatureExtractor) -> None:
    # The README beside the weights: about 31 dB PSNR at 512 px (seen here: 33.4 dB on The Scream;
    # a wrong layer order or a missing pool branch gives noise, far below).
    rgb = decode(ART / "the_scream.jpg").rgb
    grid = Grid.plan((rgb.shape[1], rgb.shape[0]), 512)
    x = grid.to_working(to_tensor(rgb))
    y = taef2.decode(taef2.encode(x))
    assert y is not None
    psnr = 10 * np.log10(1 / float(((y - x) ** 2).mean()))
    assert psnr > 30


def test_gradients_flow_to_the_input(taef2: extractors.FeatureExtractor) -> None:
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    taef2.encode(x).square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_bf16_is_chosen_only_where_the_probe_finds_it_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    for has, float32, bfloat16, expected in [(False, 1.0, 0.1, False), (True, 1.0, 0.5, True), (True, 1.0, 1.5, False)]:
        device.cpu_prefers_bf16.cache_clear()
        monkeypatch.setattr(device, "cpu_has_bf16", lambda has=has: has)
        monkeypatch.setattr(device, "_probe", lambda dtype, f=float32, b=bfloat16: f if dtype == torch.float32 else b)
        assert device.cpu_prefers_bf16() is expected
    device.cpu_prefers_bf16.cache_clear()


def test_auto_dtype_follows_the_probe() -> None:
    compute = device.resolve(Settings(device="cpu"))
    expected = "bfloat16" if device.cpu_prefers_bf16() else "float32"
    assert compute.dtype_label == expected
    assert device.resolve(Settings(device="cpu", dtype="float32")).dtype_label == "float32"


def test_corrupt_weights_are_refused(tmp_path: Path, shared_models: Path) -> None:
    (tmp_path / "taef2").mkdir()
    for name in ("taef2_encoder.pth", "taef2_decoder.pth"):
        (tmp_path / "taef2" / name).write_bytes((shared_models / "taef2" / name).read_bytes()[:-10] + b"0" * 10)
    settings = Settings(models_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(errors.ModelCorruptError):
        extractors.load("taef2", settings, device.resolve(settings))


def test_missing_weights_name_the_fix(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(errors.ModelNotFoundError, match="models pull taef2"):
        extractors.load("taef2", settings, device.resolve(settings))
