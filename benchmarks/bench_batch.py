"""Images per second for batch sizes 1, 2, 4, 8 at 256×256 with TAEF2, and the ratio to batch 1,
measured in one run (`Cloaker.cloak_many` optimises same-size images in one batch).

    python benchmarks/bench_batch.py [--steps 24] [--sizes 1,2,4,8]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
from _common import art_crop, ensure_models_dir, machine, table
from stylecloak.engine.cloaker import Cloaker
from stylecloak.result import CloakResult
from stylecloak.settings import get_settings


def images(count: int, size: int) -> list[bytes]:
    base = np.asarray(art_crop(size * 2))
    out = []
    for index in range(count):
        # Distinct images of the same size: different crops of the painting.
        y, x = (index * 37) % size, (index * 53) % size
        buffer = io.BytesIO()
        from PIL import Image

        Image.fromarray(np.ascontiguousarray(base[y : y + size, x : x + size])).save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--sizes", default="1,2,4,8")
    args = parser.parse_args()
    ensure_models_dir()
    print(f"bench_batch: {machine()}, {args.size}×{args.size}, {args.steps} steps, TAEF2")
    cloaker = Cloaker(get_settings())
    cloaker.cloak_many(images(1, 64 * 2), steps=1, force=True)  # warm-up
    rows = []
    base = None
    for batch in (int(s) for s in args.sizes.split(",")):
        data = images(batch, args.size)
        started = time.perf_counter()
        results = cloaker.cloak_many(data, steps=args.steps, max_batch=batch, force=True,
                                     target_styles=["hatching"] * batch)  # fmt: skip
        seconds = time.perf_counter() - started
        ok = [r for r in results if isinstance(r, CloakResult)]
        per_image = seconds / batch
        base = base or per_image
        rows.append(
            [batch, seconds, batch / seconds, per_image / base, float(np.mean([r.report.latent_shift for r in ok]))]
        )
    print(table(rows, ["batch", "seconds", "images/s", "time per image ÷ batch 1", "mean shift"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
