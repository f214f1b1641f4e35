"""Typed, frozen settings, split by who reads them, read from one source.

- :class:`EngineSettings`: what the engine reads (models, the cloak, compute, output, the marker key);
- :class:`ClientSettings`: what the client tier reads (which backend, and how to reach a remote one);
- both read the input limits (:class:`InputLimits`), which the http client checks before sending;
- :class:`Settings`: all of them, read from ``STYLECLOAK_*`` environment variables (or built directly
  in code), what :func:`get_settings` returns and what a :class:`~stylecloak.client.Client` takes.

Adapters build it from their framework's configuration through :meth:`Settings.replace`; their own
options (upload policy, S3 routes, Serve deployment) live in their own settings objects. Nothing else
reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from stylecloak.bounds import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, MAX_SEED

Intensity = Literal["low", "default", "high"]
Quality = Literal["fast", "default", "slow"]
Backend = Literal["local", "http"]
BudgetKind = Literal["auto", "lpips", "ssim"]

DEFAULT_EXTRACTOR = "taef2"
DEFAULT_WORKING_RESOLUTION = 512
DEFAULT_JPEG_QUALITY = 95
DEFAULT_MIN_JPEG_QUALITY = 90


def default_cache_dir() -> Path:
    """Where downloaded weights and computed style statistics live for this user."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "stylecloak"


class _Frozen(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STYLECLOAK_", frozen=True, extra="forbid")

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied (``model_copy`` would skip validation)."""
        data = self.model_dump()
        data.update(changes)
        return type(self).model_validate(data)


class InputLimits(_Frozen):
    """The input limits: the engine refuses an image beyond them, the http client before sending it."""

    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, gt=0, description="Largest accepted width × height.")
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0, description="Largest accepted encoded size.")
    min_side: int = Field(default=DEFAULT_MIN_SIDE, ge=8, description="Smallest accepted side length (px).")


class EngineSettings(InputLimits):
    """What the engine reads. Two :class:`Settings` that differ only in client fields share one engine."""

    # Models and caches.
    models_dir: Path | None = Field(
        default=None, description="Folder searched first for model weights (`<dir>/<model>/<file>`)."
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="User cache: pulled weights and computed style statistics.",
    )
    extractor: str = Field(default=DEFAULT_EXTRACTOR, description="Feature extractor Φ, by registry name.")

    # The cloak.
    intensity: Intensity = Field(default="default", description="Budget preset: low, default, high.")
    quality: Quality = Field(default="default", description="Search-time preset: fast, default, slow.")
    budget: BudgetKind = Field(
        default="auto", description="Perceptual budget: lpips when its weights are present (auto), or ssim."
    )
    lpips_net: Literal["alex", "vgg"] = Field(default="alex", description="LPIPS backbone.")
    working_resolution: int = Field(
        default=DEFAULT_WORKING_RESOLUTION, ge=64, description="Short side (px) at which the cloak is computed."
    )
    style_transfer: Literal["latent", "img2img"] = Field(
        default="latent",
        description="Ω: latent (AdaIN to the style's latent statistics, CPU) or img2img (a diffusers pipeline).",
    )
    render_cap: int = Field(
        default=1024,
        ge=64,
        description="Short side (px) at which the platform's transformations are simulated.",
    )
    robustness: str = Field(
        default="mimic",
        description="What the cloak is optimised to survive: mimic (the views trainers feed their models: "
        "training resolutions 512-1024 and the upload's own size, their resamplers and flips, after the "
        "output's own save and the platform's re-encodes), or a working-grid profile, cheaper and protecting "
        "the cloak's own 512 px view only: platform (its own save and common art-site re-encodes and resizes), "
        "output (its own save only), or slots written out (e.g. save;jpeg75,webp80;width400+jpeg85).",
    )
    mimic_resolutions: tuple[int, ...] = Field(
        default=(512, 768, 1024),
        min_length=1,
        description="Training resolutions (short side, px) of the mimics the cloak is optimised and measured "
        "against, besides the upload's own size (JSON list in the env).",
    )
    target_choice: Literal["reachable", "seeded"] = Field(
        default="reachable",
        description="How a new artist's target style is picked among those at or beyond the 50th percentile of "
        "distance: reachable (a short trial cloak toward each, keep the one it moves furthest) or seeded (the "
        "paper's rule: a seeded draw from the 50th-75th percentile band).",
    )
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED, description="Seed for the perturbation's initialisation and target choice."
    )
    target_store: str = Field(
        default="", description="Artist → target style store: empty for in-memory, or a JSON file path."
    )
    style_images: tuple[Path, ...] = Field(
        default=(), description="Reference images added to the style catalogue (JSON list in the env)."
    )

    # Compute.
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="auto picks bfloat16 on a GPU that has it, and on a CPU where a short probe finds it at least "
        "1.1× faster than float32 (native bfloat16 is not always faster); float32 elsewhere.",
    )
    threads: int = Field(default=0, ge=0, description="torch CPU threads; 0 keeps torch's default.")

    # Output.
    jpeg_quality: int = Field(
        default=DEFAULT_JPEG_QUALITY, ge=1, le=100, description="JPEG/WebP quality when the source's is unknown."
    )
    min_jpeg_quality: int = Field(
        default=DEFAULT_MIN_JPEG_QUALITY,
        ge=1,
        le=100,
        description="Floor on the output JPEG quality, so the cloak survives its own save.",
    )

    # The platform's secret.
    marker_key: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC that binds a cloak's marker to its pixels; the same on every worker. "
        "Unset: a random key per process (markers verify only in the process that wrote them).",
    )

    @field_validator("mimic_resolutions")
    @classmethod
    def _resolutions(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 64 <= r <= 4096 for r in value):
            raise ValueError("each mimic resolution must be between 64 and 4096 px")
        return tuple(sorted(set(value)))

    @field_validator("extractor")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip()

    def for_engine(self) -> EngineSettings:
        """Only the engine's fields (of :class:`Settings` too): what a cloaker is built and cached on."""
        return EngineSettings.model_validate(self.model_dump(include=set(EngineSettings.model_fields)))


class ClientSettings(InputLimits):
    """What the client tier reads: which backend runs the cloak, and how to reach a remote one."""

    backend: Backend = Field(default="local", description="local (in-process engine) or http (Serve).")
    endpoint: str = Field(default="", description="Base URL of a stylecloak Serve endpoint.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the endpoint.")

    timeout_s: float = Field(default=120.0, gt=0, description="Request timeout of the http backend.")
    retries: int = Field(default=4, ge=0, description="Retries on 503/429 and connection errors.")

    def for_client(self) -> ClientSettings:
        """Only the client tier's fields (of :class:`Settings` too)."""
        return ClientSettings.model_validate(self.model_dump(include=set(ClientSettings.model_fields)))


class Settings(EngineSettings, ClientSettings):
    """Everything stylecloak can be configured with, from one source. Immutable: use :meth:`replace`."""


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit ``overrides`` on top."""
    return Settings(**overrides)
