"""The default cloak's cost and protection, against the previous default's code path, in one run.

For the default preset on a 1024×640 artwork for a new artist (the reachable target choice included)
and on a 512×512 one: seconds, the ratio to the previous default (robustness ``platform``: δ on the
working grid, optimised at that one view) and the mean mimic-view shift of each (the image as trainers
feed it to their models: short sides 512, 768, 1024 and its own, bilinear and bicubic).

    python benchmarks/bench_cloak.py [--dtype auto|float32|bfloat16] [--repeat 1] [--only 512×512] [--compare-dtypes]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid

from _common import ART, art_crop, ensure_models_dir, machine, table
from PIL import Image
from stylecloak.engine.cloaker import Cloaker
from stylecloak.settings import get_settings

PREVIOUS = "platform"  # the default before mimic views


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def artworks() -> dict[str, bytes]:
    """Starry Night (1024×640) where the shared art is, and a 512×512 crop of it."""
    path = ART / "starry_night.jpg"
    wide = Image.open(path).convert("RGB") if path.is_file() else art_crop(1024).crop((0, 0, 1024, 640))
    return {f"{wide.width}×{wide.height}": encoded(wide), "512×512": encoded(art_crop(512))}


def run(cloaker: Cloaker, data: bytes, repeat: int) -> tuple[float, float, float, float]:
    """Fastest of ``repeat`` cloaks for a new artist each time: seconds, mimic mean, worst, working grid."""
    best, report = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = cloaker.cloak(data, artist_id=f"new-{uuid.uuid4().hex}", force=True)
        best = min(best, time.perf_counter() - started)
        report = result.report
    assert report is not None and report.mimic_shift is not None and report.mimic_worst is not None
    return best, report.mimic_shift, report.mimic_worst, report.latent_shift


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--repeat", type=int, default=1, help="Runs per figure; the fastest is kept.")
    parser.add_argument("--compare-dtypes", action="store_true", help="Also time bfloat16 against float32.")
    parser.add_argument("--only", nargs="+", metavar="W×H", help="Only these artworks (e.g. 512×512).")
    args = parser.parse_args()
    ensure_models_dir()
    print(f"bench_cloak: {machine()}")
    current = Cloaker(get_settings(dtype=args.dtype))
    previous = Cloaker(get_settings(dtype=args.dtype, robustness=PREVIOUS))
    # Warm-up: the style statistics are cached per machine, not per artist; neither path pays for them.
    current.cloak(encoded(art_crop(128)), steps=1, force=True)
    print(f"dtype: {current.compute.dtype_label}, robustness: {current.params().robustness} (previous: {PREVIOUS})")
    rows = []
    for name, data in artworks().items():
        if args.only and name not in args.only:
            continue
        new = run(current, data, args.repeat)
        print(f"{name} default: {new[0]:.1f} s, mimic mean {new[1]:.3f}, worst {new[2]:.3f}", flush=True)
        old = run(previous, data, args.repeat)
        print(f"{name} previous: {old[0]:.1f} s, mimic mean {old[1]:.3f}, worst {old[2]:.3f}", flush=True)
        rows.append([name, "default", *new, old[0] / new[0]])
        rows.append([name, f"previous ({PREVIOUS})", *old, 1.0])
    print("\ndefault preset, new artist (target choice included)")
    print(table(rows, ["artwork", "path", "seconds", "mimic mean", "mimic worst", "working grid", "× faster"]))
    if args.compare_dtypes:
        data = encoded(art_crop(512))
        timed = {d: run(Cloaker(get_settings(dtype=d)), data, args.repeat)[0] for d in ("bfloat16", "float32")}
        print(f"\n512×512 default: bfloat16 {timed['bfloat16']:.1f} s, float32 {timed['float32']:.1f} s "
              f"(bfloat16 speed-up {timed['float32'] / timed['bfloat16']:.2f}×)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
