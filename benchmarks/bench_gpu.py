"""Batched cloaking on a CUDA GPU: images per second for batch sizes 1, 8 and 32 at 512×512, TAEF2, bfloat16.

    .venv/bin/python benchmarks/bench_gpu.py                 # batch sizes 1, 8, 32; the quality's steps
    .venv/bin/python benchmarks/bench_gpu.py --steps 50 --sizes 1,8,32,64

Every batch goes through ``Cloaker.cloak_many`` (the public API a GPU worker calls), with distinct
512×512 images and one artist per image, so each image gets its own target and budget. Speed-up is
images per second at batch size b over images per second at batch size 1, measured in the same run
on the same device. Where torch sees no CUDA device the script says so and exits 0: it measures GPUs
only (the CPU figures are ``benchmarks/bench_batch.py``'s).

Weights: TAEF2 from ``$STYLECLOAK_MODELS_DIR``, else ``../shared/models`` or ``shared/models`` beside
the repository. The budget is the weightless SSIM one by default, so no LPIPS download is needed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import artwork as _artwork
from _common import find_models

SIDE = 512


def artwork(index: int, side: int = SIDE) -> bytes:
    return _artwork(index, side)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,8,32", help="Batch sizes, comma-separated (first is the baseline).")
    parser.add_argument("--steps", type=int, default=None, help="Optimisation steps (default: the quality preset's).")
    parser.add_argument("--quality", default="default", choices=["fast", "default", "slow"])
    parser.add_argument("--budget", default="ssim", choices=["ssim", "lpips", "auto"])
    parser.add_argument("--device", default="cuda", help="A CUDA device: cuda or cuda:N.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    import torch

    if not torch.cuda.is_available():
        print(
            f"bench_gpu: no CUDA device here (torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
            "this benchmark measures GPUs only and did not run.",
        )
        return 0
    models = find_models()
    if models is None:
        print("bench_gpu: TAEF2 weights not found; set STYLECLOAK_MODELS_DIR (see ../shared/models/taef2/README.md)")
        return 1

    from stylecloak.engine.cloaker import Cloaker
    from stylecloak.result import CloakResult
    from stylecloak.settings import Settings

    settings = Settings(
        models_dir=models,
        extractor="taef2",
        device=args.device,
        dtype="bfloat16",
        quality=args.quality,
        budget=args.budget,
        working_resolution=SIDE,
        render_cap=SIDE,
    )
    overrides = {"steps": args.steps} if args.steps else {}
    started = time.perf_counter()
    cloaker = Cloaker(settings)
    # Warm-up: style features, cuDNN autotuning and allocator growth stay out of the timings.
    cloaker.cloak_many([artwork(10_000)], artist_ids=["warm-up"], steps=2)
    torch.cuda.synchronize()
    print(
        f"device: {torch.cuda.get_device_name(cloaker.compute.device)} ({cloaker.compute.label}, "
        f"{cloaker.compute.dtype_label}); torch {torch.__version__}; extractor taef2; {SIDE}×{SIDE}; "
        f"quality {args.quality}, steps {args.steps or 'preset'}, budget {cloaker.budget.kind}; "
        f"set-up {time.perf_counter() - started:.1f} s",
    )
    uploads = [artwork(i) for i in range(max(sizes))]

    print(f"{'batch':>5} {'seconds':>9} {'images/s':>9} {'× batch 1':>10} {'shift':>7} {'peak GiB':>9}")
    baseline: float | None = None
    failed = 0
    for size in sizes:
        torch.cuda.reset_peak_memory_stats(cloaker.compute.device)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        results = cloaker.cloak_many(uploads[:size], artist_ids=[f"artist-{i}" for i in range(size)], **overrides)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        done = [r for r in results if isinstance(r, CloakResult)]
        for error in (r for r in results if not isinstance(r, CloakResult)):
            failed += 1
            print(f"  failed: {error}", file=sys.stderr)
        rate = len(done) / seconds
        if not done:
            continue
        baseline = baseline or rate
        shifts = [r.report.latent_shift for r in done if r.report.latent_shift is not None]
        shift = f"{np.mean(shifts):.3f}" if shifts else "-"
        peak = torch.cuda.max_memory_allocated(cloaker.compute.device) / 2**30
        print(f"{size:>5} {seconds:>9.2f} {rate:>9.2f} {rate / baseline:>9.2f}× {shift:>7} {peak:>9.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
