"""Perceptual budgets: how far the cloaked image may drift from the original.

LPIPS (the paper's choice) when its backbone weights are on disk; otherwise a weightless budget,
1 − SSIM, with the hard L∞ rail the optimiser always applies. The report names the one used.
"""

from __future__ import annotations

import stylecloak.engine._torch  # noqa: F401  # isort: skip  (names the extra when torch is missing)

import logging
import warnings
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from stylecloak.engine.metrics import ssim, ssim_full
from stylecloak.errors import ConfigurationError, MissingExtraError, ModelCorruptError, ModelNotFoundError
from stylecloak.models import weights
from stylecloak.models.device import Compute
from stylecloak.models.registry import get_spec
from stylecloak.settings import EngineSettings
from torch import Tensor, nn

log = logging.getLogger(__name__)

#: LPIPS runs a network; at full size it measures copies area-downscaled to at most this many pixels.
LPIPS_MAX_PIXELS = 4_000_000


class Budget(Protocol):
    @property
    def kind(self) -> str: ...

    def distance(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """Per-image perceptual distance (N,), differentiable in ``x_adv``."""
        ...

    def full_size(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """The same distance between full-size images of any size, without gradients: how the saved
        file is checked and reported."""
        ...


@dataclass(frozen=True)
class SSIMBudget:
    kind: str = "ssim"

    def distance(self, x_adv: Tensor, x: Tensor) -> Tensor:
        return 1 - ssim(x_adv, x)

    def full_size(self, x_adv: Tensor, x: Tensor) -> Tensor:
        return 1 - ssim_full(x_adv, x)


class LPIPSBudget:
    kind = "lpips"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def distance(self, x_adv: Tensor, x: Tensor) -> Tensor:
        return self.model(x_adv, x, normalize=True).flatten()

    @torch.no_grad()
    def full_size(self, x_adv: Tensor, x: Tensor) -> Tensor:
        pixels = x.shape[-1] * x.shape[-2]
        if pixels > LPIPS_MAX_PIXELS:
            scale = (LPIPS_MAX_PIXELS / pixels) ** 0.5
            size = (int(x.shape[-2] * scale), int(x.shape[-1] * scale))
            x_adv, x = F.interpolate(x_adv, size=size, mode="area"), F.interpolate(x, size=size, mode="area")
        return self.distance(x_adv, x)


def _lpips_model(net: str, *, random_backbone: bool) -> nn.Module:
    try:
        import lpips
    except ImportError as exc:
        raise MissingExtraError("lpips", "engine") from exc
    with warnings.catch_warnings():
        # lpips builds its torchvision backbone with the deprecated `pretrained=` argument.
        warnings.filterwarnings("ignore", message=".*'pretrained' is deprecated.*", category=UserWarning)
        warnings.filterwarnings("ignore", message="Arguments other than a weight enum.*", category=UserWarning)
        model: nn.Module = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    return model


def _load_backbone(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Copy torchvision ``features.<i>.*`` weights into lpips' slices, which keep the layer indices."""
    targets: dict[str, Tensor] = {}
    backbone = model.net
    assert isinstance(backbone, nn.Module)
    for slice_name, block in backbone.named_children():
        for index, _ in block.named_children():
            for param in ("weight", "bias"):
                key = f"features.{index}.{param}"
                if key in state:
                    targets[f"{slice_name}.{index}.{param}"] = state[key]
    missing, _ = backbone.load_state_dict(targets, strict=False)
    if missing:
        raise ModelCorruptError(f"LPIPS backbone weights lack {', '.join(missing[:4])}")


def lpips_budget(net: str, settings: EngineSettings, compute: Compute, *, random_backbone: bool = False) -> LPIPSBudget:
    """LPIPS with its real ImageNet backbone (or a random one, for tests of this code path)."""
    model = _lpips_model(net, random_backbone=random_backbone)
    if not random_backbone:
        spec = get_spec(f"lpips-{net}")
        path = weights.find(spec, spec.files[0].filename, settings)
        state = torch.load(path, map_location="cpu", weights_only=True)
        _load_backbone(model, state)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return LPIPSBudget(model.to(compute.device))


def load(kind: str, settings: EngineSettings, compute: Compute) -> Budget:
    """The budget for ``kind``: ``lpips``, ``ssim``, or ``auto`` (LPIPS when its weights are present)."""
    if kind == "ssim":
        return SSIMBudget()
    if kind not in ("lpips", "auto"):
        raise ConfigurationError(f"budget must be auto, lpips or ssim, not {kind!r}")
    try:
        return lpips_budget(settings.lpips_net, settings, compute)
    except (ModelNotFoundError, ModelCorruptError, MissingExtraError) as exc:
        if kind == "lpips":
            raise
        log.info("LPIPS weights unavailable (%s); using the weightless SSIM budget", exc.message)
        return SSIMBudget()
