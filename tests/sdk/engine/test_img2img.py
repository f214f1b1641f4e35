"""Ω as img2img: the real diffusers pipeline class with tiny random components, and caller-given renditions."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from stylecloak import errors
from stylecloak.engine.img2img import GivenRendition, Img2ImgRenderer, Img2ImgSettings, image_sha256
from stylecloak.engine.styles import TEXT_STYLES
from stylecloak.models.device import Compute
from stylecloak.settings import Settings

from tests.conftest import encoded, painting

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

pytestmark = [
    # DPMSolver's set_timesteps hands numpy a torch tensor (numpy 2 deprecation, inside diffusers).
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated:UserWarning"),
]

CPU = Compute(torch.device("cpu"), torch.float32)
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def tiny_pipeline() -> object:
    """A Stable Diffusion img2img pipeline of random tiny parts, as diffusers' own tests build one."""
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=4,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=32,
    )
    vocab = ["<|startoftext|>", "<|endoftext|>", *LETTERS, *(c + "</w>" for c in LETTERS)]
    tokenizer = transformers.CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[], model_max_length=16)
    text_encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            max_position_embeddings=16,
        )
    )
    # DDIM here, so the test sees the renderer switch to DPMSolver as the paper's re-implementation does.
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, steps_offset=1
    )
    return diffusers.StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("img2img")
    pipe = tiny_pipeline()
    pipe.save_pretrained(root / "tiny-sd")  # type: ignore[attr-defined]
    repo = root / "hf-cache" / "models--example--tiny-sd"
    pipe.save_pretrained(repo / "snapshots" / COMMIT)  # type: ignore[attr-defined]
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return root


def renderer(saved: Path, tmp_path: Path, **overrides: object) -> Img2ImgRenderer:
    settings = Settings(cache_dir=tmp_path / "cache")
    options = {"pipeline": str(saved / "tiny-sd"), "steps": 6, "render_side": None, **overrides}
    return Img2ImgRenderer(settings=settings, compute=CPU, **options)


def artwork(width: int = 48, height: int = 40) -> np.ndarray:
    return painting(width, height, seed=3).astype(np.float32) / 255


def test_defaults_follow_the_public_reimplementation():
    config = Img2ImgSettings()
    assert (config.strength, config.steps, config.guidance, config.scheduler) == (0.4, 50, 7.5, "dpmsolver")
    assert config.prompt_template.format(style=TEXT_STYLES[0].prompt) == "Cubism by Picasso style"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STYLECLOAK_IMG2IMG_STRENGTH", "0.3")
    monkeypatch.setenv("STYLECLOAK_IMG2IMG_PIPELINE", "/srv/models/sd21")
    config = Img2ImgSettings()
    assert (config.strength, config.pipeline) == (0.3, "/srv/models/sd21")
    with pytest.raises(ValueError, match="strength"):
        config.replace(strength=1.5)


def test_renders_the_same_size_and_caches_per_image_and_prompt(saved: Path, tmp_path: Path):
    omega = renderer(saved, tmp_path)
    x = artwork()
    cubism = omega.render(x, TEXT_STYLES[0])
    assert cubism.shape == x.shape and cubism.dtype == np.float32
    assert cubism.min() >= 0 and cubism.max() <= 1
    assert not np.allclose(cubism, x, atol=0.05), "the rendition must differ from the input"
    assert np.array_equal(omega.render(x, "Cubism by Picasso"), cubism)
    assert omega.renders == 1, "the same image and prompt must hit the cache"
    monet = omega.render(x, TEXT_STYLES[1])
    assert omega.renders == 2 and np.abs(monet - cubism).mean() > 1e-3
    other = omega.render(artwork(48, 40) * 0.5, TEXT_STYLES[0])
    assert omega.renders == 3 and other.shape == x.shape
    # A fresh renderer (a new process) finds the rendition on disk and never loads the pipeline.
    again = renderer(saved, tmp_path)
    assert np.array_equal(again.render(x, TEXT_STYLES[0]), cubism) and again.renders == 0
    # Every parameter that changes the rendition is part of the key.
    reseeded = renderer(saved, tmp_path, seed=1)
    assert reseeded.key(x, "p") != again.key(x, "p")
    assert reseeded.render(x, TEXT_STYLES[0]).shape == x.shape and reseeded.renders == 1


def test_pipeline_is_the_real_class_with_dpmsolver(saved: Path, tmp_path: Path):
    from stylecloak.engine.img2img import load_pipeline

    omega = renderer(saved, tmp_path)
    pipe = load_pipeline(omega.config, omega.settings, CPU)
    assert type(pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    kept = load_pipeline(omega.config.replace(scheduler="pipeline"), omega.settings, CPU)
    assert type(kept.scheduler).__name__ == "DDIMScheduler"


def test_renders_at_the_render_side_and_returns_the_input_size(saved: Path, tmp_path: Path):
    omega = renderer(saved, tmp_path, render_side=32, disk_cache=False)
    x = artwork(90, 70)
    assert omega._render_size(90, 70, 16) == (48, 32)
    out = omega.render(x, "Ukiyo-e by Hokusai")
    assert out.shape == x.shape and not list((tmp_path / "cache").glob("renditions/**/*.png"))


def test_a_hub_id_loads_from_the_hugging_face_cache(saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(saved / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    omega = renderer(saved, tmp_path, pipeline="example/tiny-sd", disk_cache=False)
    local = renderer(saved, tmp_path, disk_cache=False)
    x = artwork()
    np.testing.assert_allclose(omega.render(x, "Pop art"), local.render(x, "Pop art"), atol=2 / 255)


def test_a_missing_pipeline_fails_at_once_and_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    omega = Img2ImgRenderer(settings=Settings(cache_dir=tmp_path), compute=CPU, pipeline="example/absent")
    started = time.monotonic()
    with pytest.raises(errors.ModelNotFoundError, match="hf download example/absent"):
        omega.render(artwork(), "Cubism")
    assert time.monotonic() - started < 5
    folder = Img2ImgRenderer(settings=Settings(cache_dir=tmp_path), compute=CPU, pipeline=str(tmp_path / "none"))
    with pytest.raises(errors.ModelNotFoundError, match=r"model_index\.json"):
        folder.render(artwork(), "Cubism")


def test_bad_inputs_are_typed_errors(saved: Path, tmp_path: Path):
    omega = renderer(saved, tmp_path)
    with pytest.raises(errors.ConfigurationError, match="text style"):
        omega.render(artwork(), "  ")
    with pytest.raises(errors.InvalidImageError, match="H×W×3"):
        omega.render(np.zeros((4, 4, 5), np.float32), "Cubism")
    with pytest.raises(errors.InvalidImageError, match="outside"):
        omega.render(artwork() * 3, "Cubism")


def test_image_hash_ignores_noise_below_one_level():
    x = artwork()
    assert image_sha256(x) == image_sha256(x + 1e-4)
    assert image_sha256(x) != image_sha256(x[:, :-1])


# ---------------------------------------------------------------- the caller's rendition


def test_given_rendition_is_resized_to_the_image():
    x = artwork(96, 80)
    rendition = painting(120, 100, seed=9)
    for source in (encoded(rendition), rendition, rendition.astype(np.float32) / 255):
        out = GivenRendition(source).render(x, TEXT_STYLES[0])
        assert out.shape == x.shape and out.dtype == np.float32
        assert abs(float(out.mean()) - float(rendition.mean()) / 255) < 0.01


def test_given_rendition_is_validated(tmp_path: Path):
    with pytest.raises(errors.InvalidImageError):
        GivenRendition(b"not an image at all")
    with pytest.raises(errors.InvalidImageError):
        GivenRendition(np.zeros((10, 10, 2), np.uint8))
    wide = GivenRendition(painting(200, 50))
    with pytest.raises(errors.ConfigurationError, match="aspect ratio"):
        wide.render(artwork(96, 80))
    png = tmp_path / "rendition.png"
    png.write_bytes(encoded(painting(97, 80)))
    assert GivenRendition(png).render(artwork(96, 80)).shape == (80, 96, 3)
