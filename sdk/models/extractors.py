"""Feature extractors Φ: what the engine optimises against, loaded by registry name.

Every extractor takes images in [0, 1] (N×3×H×W, sides a multiple of ``multiple``) and returns
latents; it converts to its own input range and latent scaling inside. Weights are frozen and the
modules are ``channels_last``.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from stylecloak.errors import ConfigurationError, ModelCorruptError
from stylecloak.models import taesd, weights
from stylecloak.models.device import Compute
from stylecloak.models.registry import ModelSpec, resolve_spec
from stylecloak.settings import EngineSettings
from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(eq=False)
class FeatureExtractor:
    """A frozen encoder Φ (and, where there is one, its decoder for previews)."""

    name: str
    encoder: nn.Module
    decoder: nn.Module | None
    latent_channels: int
    compute: Compute
    # Identifies the exact weights, for caches of computed features.
    weights_id: str
    multiple: int = 8
    # Maps [0, 1] images to the encoder's input range, and latents to and from the scaled space.
    to_input: Callable[[Tensor], Tensor] = lambda x: x
    from_output: Callable[[Tensor], Tensor] = lambda y: y

    def encode(self, x: Tensor) -> Tensor:
        """Latents of ``x`` (float32), under the compute's autocast."""
        x = self.to_input(x).contiguous(memory_format=torch.channels_last)
        with self.compute.autocast():
            z = self.encoder(x)
        return z.float()

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor | None:
        """Images in [0, 1] decoded from latents, or None when this extractor has no decoder."""
        if self.decoder is None:
            return None
        with self.compute.autocast():
            y = self.decoder(z.contiguous(memory_format=torch.channels_last))
        return self.from_output(y.float()).clamp(0, 1)


def freeze(module: nn.Module, compute: Compute) -> nn.Module:
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module.to(compute.device).to(memory_format=torch.channels_last)


def _load_state(path_of: Callable[[str], str], filename: str) -> dict[str, Tensor]:
    path = path_of(filename)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad pickle/zip
        raise ModelCorruptError(f"cannot load weights from {path}: {exc}") from exc
    return {key: value.float() for key, value in state.items()}


def _load_taesd(spec: ModelSpec, settings: EngineSettings, compute: Compute) -> FeatureExtractor:
    options = spec.options
    pool = bool(options.get("pool_stage", False))

    def path_of(filename: str) -> str:
        return str(weights.find(spec, filename, settings))

    enc = taesd.encoder(spec.latent_channels, pool_stage=pool)
    try:
        enc.load_state_dict(_load_state(path_of, str(options["encoder"])))
    except RuntimeError as exc:
        raise ModelCorruptError(f"{spec.name} encoder weights do not fit the architecture: {exc}") from exc
    dec: nn.Module | None = None
    if "decoder" in options:
        dec = taesd.decoder(spec.latent_channels, pool_stage=pool)
        try:
            dec.load_state_dict(_load_state(path_of, str(options["decoder"])))
        except RuntimeError as exc:
            raise ModelCorruptError(f"{spec.name} decoder weights do not fit: {exc}") from exc
        dec = freeze(dec, compute)
    return FeatureExtractor(
        name=spec.name,
        encoder=freeze(enc, compute),
        decoder=dec,
        latent_channels=spec.latent_channels,
        compute=compute,
        weights_id=f"{spec.name}-{spec.files[0].sha256[:16]}",
    )


Loader = Callable[[ModelSpec, EngineSettings, Compute], FeatureExtractor]

#: Loaders by registry kind: a function, or "module:function" imported on first use (so diffusers
#: is imported only when a diffusers model is asked for).
LOADERS: dict[str, Loader | str] = {
    "taesd": _load_taesd,
    "diffusers": "stylecloak.models.diffusers_vae:load",
}


def _loader(kind: str) -> Loader | None:
    loader = LOADERS.get(kind)
    if isinstance(loader, str):
        module, _, name = loader.partition(":")
        loader = LOADERS[kind] = getattr(importlib.import_module(module), name)
    return loader


_cache: dict[tuple[str, str, str, str], FeatureExtractor] = {}
_lock = threading.Lock()


def load(name: str, settings: EngineSettings, compute: Compute) -> FeatureExtractor:
    """The extractor registered as ``name``, loaded once per process (per device and dtype)."""
    spec = resolve_spec(name)
    key = (name, f"{settings.models_dir}|{settings.cache_dir}", str(compute.device), compute.dtype_label)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        loader = _loader(spec.kind)
        if loader is None:
            raise ConfigurationError(f"{name!r} is a {spec.kind} model, not a feature extractor")
        log.info("loading feature extractor %s on %s (%s)", name, compute.label, compute.dtype_label)
        extractor = _cache[key] = loader(spec, settings, compute)
        return extractor
