"""Where and in which precision the engine computes, chosen once and reported."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from stylecloak.errors import ConfigurationError
from stylecloak.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Compute:
    device: torch.device
    # Autocast dtype for the feature extractor's convolutions; float32 means no autocast.
    dtype: torch.dtype

    @property
    def label(self) -> str:
        return str(self.device)

    @property
    def dtype_label(self) -> str:
        return "bfloat16" if self.dtype == torch.bfloat16 else "float32"

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            yield


def cpu_has_bf16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere it is emulated and slow."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve(settings: Settings) -> Compute:
    """The device and compute dtype from ``settings`` (``auto`` picks the fastest that is exact enough)."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    name = settings.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigurationError(f"unknown device {settings.device!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError("STYLECLOAK_DEVICE asks for cuda but torch sees no CUDA device")
    if settings.dtype == "float32":
        dtype = torch.float32
    elif settings.dtype == "bfloat16":
        dtype = torch.bfloat16
    elif device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    else:
        dtype = torch.bfloat16 if cpu_has_bf16() else torch.float32
    compute = Compute(device, dtype)
    log.info("compute: %s, %s", compute.label, compute.dtype_label)
    return compute
