"""Seconds per image for each preset at 512×512, the bfloat16/float32 speed ratio, and how cost grows
with the input's resolution (the working grid keeps it flat). All figures measured in this one run.

    python benchmarks/bench_cloak.py [--repeat 2] [--skip-resolution]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

from _common import art_crop, ensure_models_dir, machine, table
from stylecloak.engine.cloaker import Cloaker
from stylecloak.settings import get_settings


def png(size: int) -> bytes:
    buffer = io.BytesIO()
    art_crop(size).save(buffer, "PNG")
    return buffer.getvalue()


def seconds(cloaker: Cloaker, data: bytes, repeat: int, **options: object) -> tuple[float, float]:
    best, shift = float("inf"), 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        result = cloaker.cloak(data, target_style="hatching", force=True, **options)
        best = min(best, time.perf_counter() - started)
        shift = result.report.latent_shift
    return best, shift


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2, help="Runs per figure; the fastest is kept.")
    parser.add_argument("--skip-resolution", action="store_true")
    args = parser.parse_args()
    ensure_models_dir()
    print(f"bench_cloak: {machine()}")
    data = png(512)
    cloakers = {dtype: Cloaker(get_settings(dtype=dtype)) for dtype in ("bfloat16", "float32")}
    native = cloakers["bfloat16"].compute.dtype_label
    cloakers["bfloat16"].cloak(png(128), steps=1, force=True)  # warm-up: style features, allocator
    rows = []
    for intensity, quality in [("default", "fast"), ("default", "default"), ("default", "slow"),
                               ("low", "default"), ("high", "default")]:  # fmt: skip
        secs, shift = seconds(cloakers["bfloat16"], data, args.repeat, intensity=intensity, quality=quality)
        steps = cloakers["bfloat16"].params(intensity=intensity, quality=quality).steps
        rows.append([f"{intensity}/{quality}", steps, secs, steps / secs, shift])
    print(f"\nseconds per 512×512 image (autocast dtype: {native})")
    print(table(rows, ["intensity/quality", "steps", "seconds", "steps/s", "latent shift"]))
    b16, _ = seconds(cloakers["bfloat16"], data, args.repeat)
    f32, _ = seconds(cloakers["float32"], data, args.repeat)
    print(f"\ndefault preset: bfloat16 {b16:.2f} s, float32 {f32:.2f} s, bfloat16/float32 speed ratio "
          f"{f32 / b16:.2f}× (time ratio {b16 / f32:.2f})")  # fmt: skip
    if not args.skip_resolution:
        rows = []
        base = None
        for size in (256, 512, 1024, 2048):
            secs, shift = seconds(cloakers["bfloat16"], png(size), 1)
            base = base or secs
            rows.append([f"{size}×{size}", secs, secs / base, shift])
        print("\ncost versus input resolution (default preset; working grid 512 px on the short side)")
        print(table(rows, ["input", "seconds", "ratio to 256", "latent shift"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
