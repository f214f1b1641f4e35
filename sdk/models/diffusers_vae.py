"""Diffusers autoencoders as feature extractors Φ: ``AutoencoderKL``, ``AutoencoderTiny``, ``AutoencoderKLFlux2``.

Φ is the latent a diffusion model trains on, so each class is wrapped to return exactly what its
pipelines feed the denoiser:

- ``AutoencoderKL`` (SD 1.x/2.x, SDXL, SD3, FLUX.1): ``(latent_dist.mean − shift_factor) · scaling_factor``.
  The pipelines sample the posterior; we take its mean so Φ is deterministic and differentiable.
- ``AutoencoderTiny`` (TAESD family): the encoder's latents, with the same shift/scale from its config
  (1 and 0 for TAESD/TAESDXL/TAESD3/TAEF1: they were distilled to the scaled latent space).
- ``AutoencoderKLFlux2`` (FLUX.2): the mean, in 2×2 patches, normalised by the VAE's batch-norm
  statistics, as ``Flux2Pipeline._encode_vae_image`` does: 4·C channels at 1/16 of the image size.

Input range: every class takes [−1, 1] at its diffusers API in diffusers 0.42, the tiny one included:
``EncoderTiny.forward`` rescales with ``x.add(1).div(2)`` ("scale image from [-1, 1] to [0, 1] to
match TAESD convention") and ``DecoderTiny.forward`` returns ``x.mul(2).sub(1)``
(diffusers/models/autoencoders/vae.py). So ``to_input`` is ``2x − 1`` and ``from_output`` its inverse.

Where the weights come from, first hit wins: the folder the name itself gives; then
``$STYLECLOAK_MODELS_DIR/<name>/`` and ``<cache_dir>/models/<name>/`` (a folder written by
``save_pretrained``, holding the VAE itself or the registry's subfolder); then the Hugging Face cache
or hub, through the ordinary ``from_pretrained`` path, with ``local_files_only`` whenever the hub is
switched off (``HF_HUB_OFFLINE``) or cannot be reached, so a missing model never waits on retries.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from stylecloak.errors import ConfigurationError, MissingExtraError, ModelCorruptError, ModelNotFoundError
from stylecloak.models import weights
from stylecloak.models.device import Compute
from stylecloak.models.extractors import FeatureExtractor, freeze
from stylecloak.models.registry import DIFFUSERS_CLASSES, ModelSpec
from stylecloak.settings import EngineSettings
from torch import Tensor, nn

log = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to the hub before treating it as unreachable.
HUB_PROBE_TIMEOUT_S = 3.0
_PROBE_TTL_S = 60.0
_probe: dict[str, tuple[float, bool]] = {}
_TRUE = {"1", "true", "yes", "on"}


def _import_diffusers() -> Any:
    try:
        import diffusers
    except ImportError as exc:
        raise MissingExtraError("diffusers", "engine") from exc
    return diffusers


# ---------------------------------------------------------------- where the model is


@dataclass(frozen=True, slots=True)
class Source:
    """What ``from_pretrained`` is called with."""

    location: str  # hub id or folder
    subfolder: str | None
    revision: str | None
    local: bool  # a folder on disk rather than a hub id

    def describe(self) -> str:
        inner = f"/{self.subfolder}" if self.subfolder else ""
        at = f"@{self.revision}" if self.revision else ""
        return f"{self.location}{inner}{at}"


def hub_offline() -> bool:
    """True when the hub is switched off by the environment (read at call time, unlike huggingface_hub)."""
    return any(os.environ.get(key, "").strip().lower() in _TRUE for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub endpoint opens; remembered for a minute per endpoint.

    huggingface_hub retries a failing request for about 20 s before giving up; one short probe lets a
    machine without network fail at once with a useful message instead.
    """
    from huggingface_hub import constants

    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    now = time.monotonic()
    cached = _probe.get(endpoint)
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            reachable = True
    except OSError:
        reachable = False
    _probe[endpoint] = (now, reachable)
    return reachable


def _folder_name(spec: ModelSpec) -> str:
    """The folder under MODELS_DIR that holds ``spec``: its registry name, or ``org--name`` for a hub id."""
    repo = str(spec.options.get("repo") or spec.name)
    if spec.name.startswith("hf:"):
        return repo.replace("/", "--")
    return spec.name


def _saved_folder(root: Path, subfolder: str | None) -> tuple[Path, str | None] | None:
    if (root / "config.json").is_file():
        return root, None
    if subfolder and (root / subfolder / "config.json").is_file():
        return root, subfolder
    return None


def locate(spec: ModelSpec, settings: EngineSettings) -> tuple[Source, list[Path]]:
    """Where to load ``spec`` from, and the folders searched before the hub (for error messages)."""
    options = spec.options
    repo = str(options.get("repo") or "")
    subfolder = _optional_str(options.get("subfolder"))
    revision = _optional_str(options.get("revision"))
    if not repo:
        raise ConfigurationError(f"model {spec.name!r} has no repo (hub id or folder) in its options")
    path = Path(repo).expanduser()
    if path.is_absolute() or repo.startswith("."):
        if not path.is_dir():
            raise ModelNotFoundError(
                f"{spec.name!r}: folder {path} does not exist; give a folder written by save_pretrained "
                f"(it holds config.json and the weights)",
            )
        return Source(str(path), subfolder, None, local=True), []
    searched: list[Path] = []
    roots = [settings.models_dir] if settings.models_dir is not None else []
    roots.append(weights.user_models_dir(settings))
    for root in roots:
        candidate = root / _folder_name(spec)
        searched.append(candidate)
        found = _saved_folder(candidate, subfolder)
        if found is not None:
            return Source(str(found[0]), found[1], None, local=True), searched
    return Source(repo, subfolder, revision, local=False), searched


def _optional_str(value: object) -> str | None:
    return str(value) if value else None


def _how_to_get(spec: ModelSpec, source: Source, cls: str, searched: list[Path]) -> str:
    include = f" --include '{source.subfolder}/*'" if source.subfolder else ""
    revision = f" --revision {source.revision}" if source.revision else ""
    sub = f", subfolder={source.subfolder!r}" if source.subfolder else ""
    where = ", ".join(str(p) for p in searched) or "no local folder"
    return (
        f"searched {where} and the Hugging Face cache. Get it on a machine with network with "
        f"`hf download {source.location}{include}{revision}` (then copy the Hugging Face cache, "
        f"~/.cache/huggingface, here), or save it once with "
        f"`{cls}.from_pretrained({source.location!r}{sub}).save_pretrained('<STYLECLOAK_MODELS_DIR>/{_folder_name(spec)}')`"
    )


# ---------------------------------------------------------------- loading


def _call(what: str, spec: ModelSpec, source: Source, function: Any, **kwargs: Any) -> Any:
    """``function(source, ...)`` with the hub switched off where it cannot answer, errors translated."""
    offline = source.local or hub_offline() or not hub_reachable()
    try:
        return function(
            source.location,
            subfolder=source.subfolder,
            revision=source.revision,
            local_files_only=offline,
            **kwargs,
        )
    except OSError as exc:  # diffusers reports every missing file, repo or gated access as OSError
        if source.local:
            raise ModelCorruptError(f"{spec.name!r}: cannot read {what} in {source.describe()}: {exc}") from exc
        reason = (
            "HF_HUB_OFFLINE is set"
            if hub_offline()
            else "the hub cannot be reached"
            if offline
            else "the hub does not serve it (wrong id, or a gated model without a token?)"
        )
        raise ModelNotFoundError(f"{spec.name!r} ({source.describe()}) is not available: {reason}: {exc}") from exc


def _read_class(spec: ModelSpec, source: Source, searched: list[Path], diffusers: Any) -> str:
    wanted = str(spec.options.get("class") or "auto")
    try:
        config = _call("config.json", spec, source, diffusers.AutoencoderKL.load_config)
    except ModelNotFoundError as exc:
        cls = wanted if wanted != "auto" else "AutoencoderKL"
        raise ModelNotFoundError(f"{exc.message}; {_how_to_get(spec, source, cls, searched)}") from exc
    found = str(config.get("_class_name", ""))
    if found not in DIFFUSERS_CLASSES:
        raise ConfigurationError(
            f"{spec.name!r} ({source.describe()}) is a {found or 'model without _class_name'}, not one of "
            f"{', '.join(DIFFUSERS_CLASSES)}",
        )
    if wanted not in ("auto", found):
        raise ModelCorruptError(f"{spec.name!r} should be a {wanted} but {source.describe()} holds a {found}")
    return found


def _load_model(spec: ModelSpec, source: Source, cls: str, diffusers: Any) -> Any:
    model_class = getattr(diffusers, cls)
    try:
        model = _call(
            "weights",
            spec,
            source,
            model_class.from_pretrained,
            dtype=torch.float32,
            # Without accelerate diffusers would log a warning and fall back to this anyway.
            low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None,
        )
    except (ValueError, RuntimeError, KeyError) as exc:  # shapes or config that do not fit the class
        raise ModelCorruptError(f"{spec.name!r} ({source.describe()}) does not load as a {cls}: {exc}") from exc
    return model


def parameters_digest(module: nn.Module) -> str:
    """SHA-256 over every parameter and buffer: the identity of the weights, wherever they came from."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- the wrappers Φ sees


def patchify(z: Tensor) -> Tensor:
    """N×C×H×W → N×4C×H/2×W/2, 2×2 patches, channel order as in ``Flux2Pipeline._patchify_latents``."""
    n, c, h, w = z.shape
    return z.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h // 2, w // 2)


def unpatchify(z: Tensor) -> Tensor:
    n, c, h, w = z.shape
    return z.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, h * 2, w * 2)


class ScaledEncoder(nn.Module):
    """Images in [−1, 1] → ``(latent − shift) · scale`` (KL: the posterior mean)."""

    vae: Any  # a diffusers model: untyped

    def __init__(self, vae: nn.Module, *, shift: float, scale: float, tiny: bool) -> None:
        super().__init__()
        self.vae = vae
        self.shift, self.scale, self.tiny = shift, scale, tiny

    def forward(self, x: Tensor) -> Tensor:
        encoded = self.vae.encode(x)
        z = encoded.latents if self.tiny else encoded.latent_dist.mean
        return (z - self.shift) * self.scale


class ScaledDecoder(nn.Module):
    """Inverse of :class:`ScaledEncoder`'s scaling, then the VAE's decoder; images in [−1, 1]."""

    vae: Any

    def __init__(self, vae: nn.Module, *, shift: float, scale: float) -> None:
        super().__init__()
        self.vae = vae
        self.shift, self.scale = shift, scale

    def forward(self, z: Tensor) -> Tensor:
        return self.vae.decode(z / self.scale + self.shift).sample


class Flux2Encoder(nn.Module):
    """Images in [−1, 1] → patchified posterior mean, normalised by the VAE's batch-norm running statistics."""

    vae: Any

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        bn = self.vae.bn
        mean = bn.running_mean.view(1, -1, 1, 1).to(like.dtype)
        var = bn.running_var.view(1, -1, 1, 1).to(like.dtype)
        return mean, torch.sqrt(var + float(self.vae.config.batch_norm_eps))

    def forward(self, x: Tensor) -> Tensor:
        z = patchify(self.vae.encode(x).latent_dist.mean)
        mean, std = self.stats(z)
        return (z - mean) / std


class Flux2Decoder(nn.Module):
    encoder: Flux2Encoder

    def __init__(self, encoder: Flux2Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, z: Tensor) -> Tensor:
        mean, std = self.encoder.stats(z)
        return self.encoder.vae.decode(unpatchify(z * std + mean)).sample


def _to_input(x: Tensor) -> Tensor:
    return x * 2 - 1


def _from_output(y: Tensor) -> Tensor:
    return (y + 1) / 2


def _factor(spec: ModelSpec, config: Any, key: str, default: float) -> float:
    override = spec.options.get(key)
    value = override if override is not None else getattr(config, key, None)
    return float(value) if isinstance(value, (int, float, str)) else default


def load(spec: ModelSpec, settings: EngineSettings, compute: Compute) -> FeatureExtractor:
    """The diffusers autoencoder of ``spec`` as a frozen, ``channels_last`` feature extractor on ``compute``."""
    diffusers = _import_diffusers()
    source, searched = locate(spec, settings)
    cls = _read_class(spec, source, searched, diffusers)
    vae: Any = _load_model(spec, source, cls, diffusers)
    config = vae.config
    blocks = config.encoder_block_out_channels if cls == "AutoencoderTiny" else config.block_out_channels
    multiple = 2 ** (len(blocks) - 1)
    channels = int(config.latent_channels)
    shift = _factor(spec, config, "shift_factor", 0.0)
    scale = _factor(spec, config, "scaling_factor", 1.0)
    encoder: nn.Module
    decoder: nn.Module
    if cls == "AutoencoderKLFlux2":
        channels, multiple = channels * 4, multiple * 2
        encoder = Flux2Encoder(vae)
        decoder = Flux2Decoder(encoder)
        scaling = "patchified, batch-norm normalised"
    else:
        encoder = ScaledEncoder(vae, shift=shift, scale=scale, tiny=cls == "AutoencoderTiny")
        decoder = ScaledDecoder(vae, shift=shift, scale=scale)
        scaling = f"(z - {shift}) * {scale}"
    if spec.latent_channels and spec.latent_channels != channels:
        raise ModelCorruptError(
            f"{spec.name!r} should give {spec.latent_channels} latent channels but {source.describe()} gives "
            f"{channels} (wrong subfolder or model?)",
        )
    digest = hashlib.sha256(f"{cls}|{shift}|{scale}|{parameters_digest(vae)}".encode()).hexdigest()
    freeze(vae, compute)
    log.info(
        "loaded %s %s from %s: %d channels, 1/%d, %s", cls, spec.name, source.describe(), channels, multiple, scaling
    )
    return FeatureExtractor(
        name=spec.name,
        encoder=encoder.eval(),
        decoder=decoder.eval(),
        latent_channels=channels,
        compute=compute,
        weights_id=f"{_safe(spec.name)}-{digest[:16]}",
        multiple=multiple,
        to_input=_to_input,
        from_output=_from_output,
    )


def _safe(name: str) -> str:
    """``name`` usable in a file name (weights ids name cache files)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")[-48:] or "model"
