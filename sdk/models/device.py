"""Where and in which precision the engine computes, chosen once and reported."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from stylecloak.errors import ConfigurationError
from stylecloak.settings import EngineSettings

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


#: bfloat16 is picked only where it is this much faster than float32: float32 is the more exact.
BF16_MARGIN = 1.1


@functools.cache
def cpu_prefers_bf16() -> bool:
    """Whether bfloat16 autocast is worth it on this CPU, measured rather than assumed.

    Native bfloat16 (AVX-512 BF16) is not always faster: on a 2-core Xeon with AVX-512 BF16 and no AMX
    (2026-11-30), TAEF2's forward and backward took 1.10 s in float32 and 1.50 s in bfloat16 at 512²,
    and a default cloak 215 s against 263 s (benchmarks/profile_cloak.py). Earlier machines of the same
    description had it 1.6× faster. So a small probe like the extractor's layers (64-channel 3×3
    convolutions, forward and backward, at 128²; about 0.4 s, once per process) decides.
    """
    if not cpu_has_bf16():
        return False
    float32, bfloat16 = _probe(torch.float32), _probe(torch.bfloat16)
    faster = float32 / bfloat16
    log.info("bfloat16 probe: float32 %.1f ms, bfloat16 %.1f ms (%.2f×)", 1000 * float32, 1000 * bfloat16, faster)
    return faster >= BF16_MARGIN


def _probe(dtype: torch.dtype, size: int = 128, repeats: int = 3) -> float:
    generator = torch.Generator().manual_seed(0)
    weights = [torch.randn(64, 64, 3, 3, generator=generator) * 0.05 for _ in range(4)]
    x = torch.rand(1, 64, size, size, generator=generator).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    for _ in range(repeats + 1):  # the first run warms oneDNN's kernels up
        start = time.perf_counter()
        y = x.detach().requires_grad_(True)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            z = y
            for weight in weights:
                z = torch.relu(torch.nn.functional.conv2d(z, weight, padding=1))
        z.float().sum().backward()  # type: ignore[no-untyped-call]
        best = min(best, time.perf_counter() - start)
    return best


def resolve(settings: EngineSettings) -> Compute:
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
        dtype = torch.bfloat16 if cpu_prefers_bf16() else torch.float32
    compute = Compute(device, dtype)
    log.info("compute: %s, %s", compute.label, compute.dtype_label)
    return compute
