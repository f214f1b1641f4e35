"""Diffusers autoencoders as Φ: tiny random-weight models saved with save_pretrained, loaded like real ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from stylecloak import errors
from stylecloak.models import diffusers_vae, extractors, registry
from stylecloak.models.device import Compute
from stylecloak.models.registry import ModelSpec, resolve_spec
from stylecloak.settings import Settings

from tests.conftest import encoded, painting

diffusers = pytest.importorskip("diffusers")

pytestmark = pytest.mark.filterwarnings(
    # huggingface_hub 2.x warns about an argument diffusers still passes on its hub path.
    "ignore:The `local_dir_use_symlinks` argument is deprecated:UserWarning",
)

CPU = Compute(torch.device("cpu"), torch.float32)
SHIFT, SCALE = 0.1, 0.5
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny_kl(seed: int = 0, **config: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    options: dict[str, object] = {
        "block_out_channels": (8, 16, 16),
        "down_block_types": ("DownEncoderBlock2D",) * 3,
        "up_block_types": ("UpDecoderBlock2D",) * 3,
        "latent_channels": 4,
        "norm_num_groups": 4,
        "layers_per_block": 1,
        "sample_size": 32,
        "scaling_factor": SCALE,
        "shift_factor": SHIFT,
    }
    options.update(config)
    return diffusers.AutoencoderKL(**options)


def tiny_taesd() -> torch.nn.Module:
    torch.manual_seed(1)
    return diffusers.AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8),
        decoder_block_out_channels=(8, 8, 8),
        num_encoder_blocks=(1, 1, 1),
        num_decoder_blocks=(1, 1, 1),
        latent_channels=4,
    )


def tiny_flux2() -> torch.nn.Module:
    torch.manual_seed(2)
    vae = diffusers.AutoencoderKLFlux2(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=32,
    )
    # Real FLUX.2 weights carry non-trivial batch-norm statistics; make sure ours do too.
    vae.bn.running_mean.uniform_(-1, 1)
    vae.bn.running_var.uniform_(0.5, 2)
    return vae


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MODELS_DIR-style folders, plus a Hugging Face cache holding one model under a hub id."""
    root = tmp_path_factory.mktemp("diffusers-models")
    tiny_kl().save_pretrained(root / "models" / "test-kl")
    tiny_taesd().save_pretrained(root / "models" / "test-tiny")
    tiny_flux2().save_pretrained(root / "models" / "test-flux2")
    tiny_kl(seed=5).save_pretrained(root / "other-kl")
    repo = root / "hf-cache" / "models--example--tiny-vae"
    tiny_kl().save_pretrained(repo / "snapshots" / COMMIT / "vae")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return root


@pytest.fixture
def settings(saved: Path, tmp_path: Path) -> Settings:
    return Settings(models_dir=saved / "models", cache_dir=tmp_path / "cache")


@pytest.fixture
def offline_hub(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(saved / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def registered() -> Iterator[None]:
    specs = [
        ("test-kl", "AutoencoderKL", 4),
        ("test-tiny", "AutoencoderTiny", 4),
        ("test-flux2", "AutoencoderKLFlux2", 16),
    ]
    for name, cls, channels in specs:
        registry.register(
            ModelSpec(
                name=name,
                kind="diffusers",
                description=f"tiny {cls} for tests",
                latent_channels=channels,
                options={"class": cls, "repo": f"example/{name}", "subfolder": None, "revision": None},
            ),
            replace=True,
        )
    yield
    for name, _, _ in specs:
        registry._REGISTRY.pop(name, None)


def images(n: int = 2, width: int = 48, height: int = 32) -> torch.Tensor:
    stack = [painting(width, height, seed=i) for i in range(n)]
    return torch.from_numpy(np.stack(stack).transpose(0, 3, 1, 2).copy()).float() / 255


def reference(folder: Path, cls: str) -> torch.nn.Module:
    model = getattr(diffusers, cls).from_pretrained(folder, low_cpu_mem_usage=False)
    return model.eval()


# ---------------------------------------------------------------- each class


def test_kl_loads_through_the_extractor_registry_with_its_scaling(registered: None, settings: Settings, saved: Path):
    phi = extractors.load("test-kl", settings, CPU)
    assert (phi.latent_channels, phi.multiple) == (4, 4)
    x = images()
    z = phi.encode(x)
    assert z.shape == (2, 4, 8, 12)
    with torch.no_grad():
        mean = reference(saved / "models" / "test-kl", "AutoencoderKL").encode(x * 2 - 1).latent_dist.mean
    torch.testing.assert_close(z, (mean - SHIFT) * SCALE, atol=1e-5, rtol=1e-4)
    assert torch.equal(phi.encode(x), z), "Φ must be deterministic: the posterior mean, never a sample"
    decoded = phi.decode(z)
    assert decoded is not None and decoded.shape == x.shape
    assert float(decoded.min()) >= 0 and float(decoded.max()) <= 1


def test_gradients_reach_the_image_and_not_the_weights(registered: None, settings: Settings):
    for name in ("test-kl", "test-tiny", "test-flux2"):
        phi = extractors.load(name, settings, CPU)
        x = images(1).requires_grad_(True)
        phi.encode(x).square().sum().backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0, name
        assert all(not p.requires_grad for p in phi.encoder.parameters()), name


def test_tiny_autoencoder_sees_the_image_in_taesd_convention(registered: None, settings: Settings, saved: Path):
    phi = extractors.load("test-tiny", settings, CPU)
    x = images()
    raw = reference(saved / "models" / "test-tiny", "AutoencoderTiny")
    with torch.no_grad():
        # The TAESD layers themselves take [0, 1]: if our range conversion were wrong, these would differ.
        torch.testing.assert_close(phi.encode(x), raw.encoder.layers(x), atol=1e-5, rtol=1e-4)
        z = phi.encode(x)
        torch.testing.assert_close(phi.decode(z), raw.decoder(z).add(1).div(2).clamp(0, 1), atol=1e-5, rtol=1e-4)


def test_flux2_latents_are_patchified_and_normalised_like_its_pipeline(
    registered: None, settings: Settings, saved: Path
):
    phi = extractors.load("test-flux2", settings, CPU)
    assert (phi.latent_channels, phi.multiple) == (16, 4)
    x = images(width=64, height=32)
    vae = reference(saved / "models" / "test-flux2", "AutoencoderKLFlux2")
    with torch.no_grad():
        z = diffusers.Flux2Pipeline._patchify_latents(vae.encode(x * 2 - 1).latent_dist.mean)
        mean = vae.bn.running_mean.view(1, -1, 1, 1)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps)
        expected = (z - mean) / std
        got = phi.encode(x)
    assert got.shape == (2, 16, 8, 16)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(diffusers_vae.unpatchify(diffusers_vae.patchify(z)), z)
    decoded = phi.decode(got)
    assert decoded is not None and decoded.shape == x.shape


def test_cloaker_runs_on_a_diffusers_extractor(registered: None, settings: Settings):
    from stylecloak.engine.cloaker import Cloaker

    cloaker = Cloaker(
        settings.replace(
            extractor="test-kl",
            quality="fast",
            working_resolution=64,
            render_cap=96,
            budget="ssim",
            mimic_resolutions=(64, 96),
        )
    )
    result = cloaker.cloak(encoded(painting(96, 80)), steps=2, target_style="mosaic")
    assert result.report.extractor == "test-kl"
    assert result.report.latent_shift is not None and np.isfinite(result.report.latent_shift)


# ---------------------------------------------------------------- where models come from


def test_a_hub_id_loads_from_the_hugging_face_cache(offline_hub: None, tmp_path: Path):
    empty = Settings(cache_dir=tmp_path / "cache")
    phi = diffusers_vae.load(resolve_spec("hf:example/tiny-vae/vae"), empty, CPU)
    assert phi.latent_channels == 4
    preset = ModelSpec(
        name="example-vae",
        kind="diffusers",
        description="",
        latent_channels=4,
        options={"class": "AutoencoderKL", "repo": "example/tiny-vae", "subfolder": "vae", "revision": COMMIT},
    )
    again = diffusers_vae.load(preset, empty, CPU)
    x = images(1)
    torch.testing.assert_close(phi.encode(x), again.encode(x))
    # The same weights have the same identity wherever they were read from.
    assert phi.weights_id.split("-")[-1] == again.weights_id.split("-")[-1]


def test_models_dir_comes_before_the_hub(saved: Path, tmp_path: Path, offline_hub: None):
    spec = ModelSpec(
        name="test-kl",
        kind="diffusers",
        description="",
        options={"class": "AutoencoderKL", "repo": "example/not-on-any-hub", "subfolder": "vae"},
    )
    source, searched = diffusers_vae.locate(spec, Settings(models_dir=saved / "models", cache_dir=tmp_path))
    assert source.local and source.location == str(saved / "models" / "test-kl") and source.subfolder is None
    assert searched == [saved / "models" / "test-kl"]


def test_weights_id_follows_the_weights(saved: Path, tmp_path: Path):
    empty = Settings(cache_dir=tmp_path)
    one = diffusers_vae.load(resolve_spec(str(saved / "models" / "test-kl")), empty, CPU)
    other = diffusers_vae.load(resolve_spec(str(saved / "other-kl")), empty, CPU)
    assert one.weights_id.split("-")[-1] != other.weights_id.split("-")[-1]
    assert "/" not in one.weights_id


def test_a_missing_hub_model_fails_at_once_and_says_how_to_get_it(offline_hub: None, tmp_path: Path):
    started = time.monotonic()
    with pytest.raises(errors.ModelNotFoundError, match=r"hf download example/absent --include 'vae/\*'") as info:
        diffusers_vae.load(resolve_spec("hf:example/absent/vae"), Settings(cache_dir=tmp_path), CPU)
    assert "HF_HUB_OFFLINE" in info.value.message
    assert time.monotonic() - started < 5


def test_an_unreachable_hub_is_not_waited_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    started = time.monotonic()
    with pytest.raises(errors.ModelNotFoundError, match="cannot be reached"):
        diffusers_vae.load(registry.get_spec("sd-vae"), Settings(cache_dir=tmp_path), CPU)
    assert time.monotonic() - started < 10


def test_a_missing_folder_and_a_wrong_model_are_typed_errors(saved: Path, tmp_path: Path):
    empty = Settings(cache_dir=tmp_path)
    with pytest.raises(errors.ModelNotFoundError, match="does not exist"):
        diffusers_vae.load(resolve_spec(str(tmp_path / "nothing-here")), empty, CPU)
    tiny_folder = str(saved / "models" / "test-tiny")
    wrong_class = ModelSpec(
        name="x", kind="diffusers", description="", options={"class": "AutoencoderKL", "repo": tiny_folder}
    )
    with pytest.raises(errors.ModelCorruptError, match="holds a AutoencoderTiny"):
        diffusers_vae.load(wrong_class, empty, CPU)
    wrong_channels = ModelSpec(
        name="y",
        kind="diffusers",
        description="",
        latent_channels=16,
        options={"class": "AutoencoderKL", "repo": str(saved / "models" / "test-kl")},
    )
    with pytest.raises(errors.ModelCorruptError, match="16 latent channels"):
        diffusers_vae.load(wrong_channels, empty, CPU)


# ---------------------------------------------------------------- the registry


def test_resolve_spec_reads_hub_ids_folders_and_names(tmp_path: Path):
    hub = resolve_spec("hf:org/name/vae@v1")
    assert hub.kind == "diffusers"
    assert hub.options == {"class": "auto", "repo": "org/name", "subfolder": "vae", "revision": "v1"}
    assert resolve_spec("hf:org/name").options["subfolder"] is None
    folder = resolve_spec(str(tmp_path))
    assert folder.options["repo"] == str(tmp_path.resolve())
    assert resolve_spec("taef2") is registry.get_spec("taef2")
    with pytest.raises(errors.ConfigurationError, match="not a hub id"):
        resolve_spec("hf:justaname")
    with pytest.raises(errors.ConfigurationError, match="unknown model"):
        resolve_spec("no-such-model")


@pytest.mark.parametrize(
    ("name", "cls", "channels"),
    [
        ("sd-vae", "AutoencoderKL", 4),
        ("sd21-vae", "AutoencoderKL", 4),
        ("sdxl-vae", "AutoencoderKL", 4),
        ("sd3-vae", "AutoencoderKL", 16),
        ("flux1-vae", "AutoencoderKL", 16),
        ("flux2-vae", "AutoencoderKLFlux2", 128),
        ("taesd", "AutoencoderTiny", 4),
        ("taesdxl", "AutoencoderTiny", 4),
        ("taesd3", "AutoencoderTiny", 16),
        ("taef1", "AutoencoderTiny", 16),
    ],
)
def test_presets(name: str, cls: str, channels: int):
    spec = registry.get_spec(name)
    assert (spec.kind, spec.options["class"], spec.latent_channels) == ("diffusers", cls, channels)
    assert "/" in str(spec.options["repo"]) and not spec.files


def test_models_list_shows_hub_presets(capsys: pytest.CaptureFixture[str]):
    import json

    from stylecloak.cli import main

    assert main(["models", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["sd-vae"]["state"] == "hub" and rows["flux2-vae"]["kind"] == "diffusers"
