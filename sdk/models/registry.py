"""Named models and their pinned files.

A :class:`ModelSpec` says what a model is and which files it needs, each pinned by SHA-256 and
fetchable from a public address. Feature extractors Φ and the LPIPS backbones are registered here;
:func:`register` lets a platform add its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
