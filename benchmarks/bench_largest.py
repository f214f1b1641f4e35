"""What one upload of the largest accepted image costs: seconds and peak memory, through the middleware.

    .venv/bin/python benchmarks/bench_largest.py [--steps N] [--sides 512,4000,5000]

Issue 17 found a 62 KB PNG of 7990×7990 px taking 108 s and 7.1 GB through the Flask middleware.
Each case here runs in a fresh process (so its peak resident memory is its own): a Flask app with the
middleware and the local engine, one POST of a PNG that compresses to almost nothing (the
decompression-amplification case), the default preset unless ``--steps`` says otherwise. The 512×512
case is the baseline of the same run; the last case is the 7990×7990 upload, now refused with a 413
before anything is decoded. Printed: CPU model and flags, seconds, peak RSS, and both as ratios to the
baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_models_dir, machine, table

ISSUE_SIDE = 7990
HEADER = ["upload", "MP", "KB", "answer", "s", "peak MB", "over models MB", "s ÷ base", "peak ÷ base"]


def bomb(side: int) -> bytes:
    """A flat-coloured PNG: megapixels that compress to a few kilobytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 90, 60)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def textured(side: int) -> bytes:
    """A textured PNG (noise upscaled): compresses well, and the engine has something to cloak."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(side)
    small = Image.fromarray((rng.random((max(2, side // 64), max(2, side // 64), 3)) * 255).astype(np.uint8))
    buffer = io.BytesIO()
    small.resize((side, side), Image.BICUBIC).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def child(side: int, steps: int | None, flat: bool) -> dict[str, object]:
    """One upload through Flask + the middleware + the local engine, in this fresh process."""
    import flask
    from stylecloak.adapters.flask import Stylecloak
    from stylecloak.middleware import UploadPolicy

    data = bomb(side) if flat else textured(side)
    app = flask.Flask("bench")

    @app.post("/upload")
    def upload() -> dict[str, int]:
        return {"bytes": len(flask.request.files["art"].read())}

    options = {"steps": steps} if steps else {}
    Stylecloak(app, policy=UploadPolicy(cloak_options=options))
    client = app.test_client()
    client.post("/upload", data={})  # imports done before the clock starts
    from stylecloak.client import Client

    Client().backend.cloaker  # noqa: B018  (models loaded: the baseline every process pays anyway)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    response = client.post("/upload", data={"art": (io.BytesIO(data), "art.png")})
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "side": side,
        "upload_kb": round(len(data) / 1024, 1),
        "status": response.status_code,
        "outcome": response.headers.get("X-Stylecloak", "").split(";")[0],
        "seconds": round(seconds, 2),
        "peak_mb": round(peak),
        "models_mb": round(loaded),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sides", default="512,4000,5000", help="Square sides to upload (the first is the baseline).")
    parser.add_argument("--steps", type=int, help="Optimisation steps (default: the default preset's).")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--flat", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ensure_models_dir()
    if args.child is not None:
        print(json.dumps(child(args.child, args.steps, args.flat)))
        return 0
    from stylecloak.settings import get_settings

    sides = [int(part) for part in args.sides.split(",")]
    print(f"bench_largest: {machine()}; max_pixels {get_settings().max_pixels:,}; steps {args.steps or 'default'}")
    rows, baseline = [], None
    for side, flat in [*((side, False) for side in sides), (ISSUE_SIDE, True)]:
        command = [sys.executable, __file__, "--child", str(side)] + (["--flat"] if flat else [])
        command += ["--steps", str(args.steps)] if args.steps else []
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        baseline = baseline or result
        rows.append(
            [
                f"{side}x{side}" + (" (flat)" if flat else ""),
                f"{side * side / 1e6:.1f}",
                result["upload_kb"],
                f"{result['status']} {result['outcome']}",
                result["seconds"],
                result["peak_mb"],
                result["peak_mb"] - result["models_mb"],
                f"{result['seconds'] / baseline['seconds']:.2f}x",
                f"{result['peak_mb'] / baseline['peak_mb']:.2f}x",
            ]
        )
        print(table(rows[-1:], HEADER), flush=True)
    print()
    print(table(rows, HEADER))
    return 0


if __name__ == "__main__":
    sys.exit(main())
