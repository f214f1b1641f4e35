"""The TAESD family of tiny autoencoders (TAESD, TAESDXL, TAESD3, TAEF1, TAEF2), as torch modules.

Written from the architecture description that ships with the weights: the layer order matches the
``nn.Sequential`` indices of the published state dicts, so they load without renaming. TAEF2 adds a
"pool" branch (1×1 conv → GroupNorm → ReLU → 1×1 conv, added to the input) to the Blocks of the
lowest-resolution stage.

Contract: images in [0, 1], N×3×H×W with H, W multiples of 8; latents N×C×H/8×W/8.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

WIDTH = 64
POOL_WIDTH = 256


def _conv(c_in: int, c_out: int, *, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)


class Block(nn.Module):
    """conv3x3 → ReLU → conv3x3 → ReLU → conv3x3, plus a skip, fused by ReLU; optional pool branch."""

    def __init__(self, c_in: int, c_out: int, *, pool: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(c_in, c_out), nn.ReLU(), _conv(c_out, c_out), nn.ReLU(), _conv(c_out, c_out))
        self.skip: nn.Module = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()
        self.pool: nn.Module | None = (
            nn.Sequential(
                nn.Conv2d(c_in, POOL_WIDTH, 1, bias=False),
                nn.GroupNorm(4, POOL_WIDTH),
                nn.ReLU(),
                nn.Conv2d(POOL_WIDTH, c_in, 1, bias=False),
            )
            if pool
            else None
        )
        self.fuse = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


class Clamp(nn.Module):
    """Soft clamp of latents to about ±3, as the decoders expect."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x / 3) * 3


def encoder(latent_channels: int, *, pool_stage: bool = False) -> nn.Sequential:
    """conv, Block, 3 × [stride-2 conv, 3 Blocks], conv. ``pool_stage`` puts pool branches in the last stage."""
    layers: list[nn.Module] = [_conv(3, WIDTH), Block(WIDTH, WIDTH)]
    for stage in range(3):
        pool = pool_stage and stage == 2
        layers.append(_conv(WIDTH, WIDTH, bias=False, stride=2))
        layers.extend(Block(WIDTH, WIDTH, pool=pool) for _ in range(3))
    layers.append(_conv(WIDTH, latent_channels))
    return nn.Sequential(*layers)


def decoder(latent_channels: int, *, pool_stage: bool = False) -> nn.Sequential:
    """Clamp, conv, ReLU, 3 × [3 Blocks, upsample, conv], Block, conv to RGB."""
    layers: list[nn.Module] = [Clamp(), _conv(latent_channels, WIDTH), nn.ReLU()]
    for stage in range(3):
        pool = pool_stage and stage == 0
        layers.extend(Block(WIDTH, WIDTH, pool=pool) for _ in range(3))
        layers.append(nn.Upsample(scale_factor=2))
        layers.append(_conv(WIDTH, WIDTH, bias=False))
    layers.extend([Block(WIDTH, WIDTH), _conv(WIDTH, 3)])
    return nn.Sequential(*layers)
