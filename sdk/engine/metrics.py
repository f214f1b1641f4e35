"""Measures shared by the optimiser, the report and the evaluation: SSIM, PSNR and the latent shift."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2


def _gaussian(device: torch.device, dtype: torch.dtype) -> Tensor:
    coords = torch.arange(SSIM_WINDOW, device=device, dtype=dtype) - SSIM_WINDOW // 2
    kernel = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return kernel / kernel.sum()


def _blur(x: Tensor, kernel: Tensor) -> Tensor:
    channels = x.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    x = F.conv2d(x, horizontal, groups=channels)
    return F.conv2d(x, vertical, groups=channels)


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Per-image SSIM (Wang et al. 2004: Gaussian window 11, σ 1.5), averaged over channels; N×C×H×W in [0, 1].

    Differentiable, so it doubles as the weightless perceptual budget.
    """
    kernel = _gaussian(x.device, x.dtype)
    mu_x, mu_y = _blur(x, kernel), _blur(y, kernel)
    var_x = _blur(x * x, kernel) - mu_x**2
    var_y = _blur(y * y, kernel) - mu_y**2
    cov = _blur(x * y, kernel) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    denominator = (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    return (numerator / denominator).mean(dim=(1, 2, 3))


def psnr(x: Tensor, y: Tensor) -> float:
    mse = float(((x.float() - y.float()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def latent_distance(z: Tensor, target: Tensor) -> Tensor:
    """Per-image L2 distance between latents."""
    return (z.float() - target.float()).flatten(1).norm(dim=1)


def latent_shift(z_out: Tensor, z_in: Tensor, target: Tensor) -> Tensor:
    """1 − ‖Φ(x̃) − t‖ / ‖Φ(x) − t‖ per image: 0 = unchanged, 1 = fully moved to the target t."""
    return 1 - latent_distance(z_out, target) / latent_distance(z_in, target).clamp_min(1e-12)
