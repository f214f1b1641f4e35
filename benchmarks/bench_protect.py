"""Protection of the default preset, per artwork and as a mean, once per robustness profile (the
default `mimic`, optimised at the views trainers feed their models, and `platform`, the previous
default, optimised on the 512 px working grid against art-site re-encodes): the mean and worst shift
over the standard mimic views, the shift after JPEG q75 at 1024 px, the working-grid shift and after
each transformation, full-size SSIM and seconds; then the default preset's time per 512×512 image
under each profile, measured in the same run, as ratios to the original cloak (profile
`output`, target by the seeded percentile rule, no trial cloaks).

    python benchmarks/bench_protect.py [--art shared|validation|own|PATH...] [--profiles mimic platform ...]
                                       [--transforms jpeg75 ...]
                                       [--skip-timing | --timing-only]
                                       [--set steps=96 linf=0.047 ...]   # a trial with other numbers
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from _common import ART, ROOT, art_crop, ensure_models_dir, machine, table
from stylecloak.engine import transforms
from stylecloak.engine.cloaker import Cloaker
from stylecloak.engine.evaluate import Evaluator
from stylecloak.settings import get_settings


def _parse(item: str) -> tuple[str, object]:
    key, _, value = item.partition("=")
    if key in ("intensity", "quality"):
        return key, value
    return key, int(value) if key in ("steps", "seed") else float(value)


def artworks(choices: list[str]) -> list[Path]:
    found: list[Path] = []
    for choice in choices:
        folders = {"shared": ART, "validation": ART / "validation", "own": ROOT / "benchmarks" / "validation"}
        folder = folders.get(choice)
        if folder is None:
            found.append(Path(choice))
        else:
            found += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transforms", nargs="+", default=list(transforms.EVAL_TRANSFORMS))
    parser.add_argument("--profiles", nargs="+", default=["mimic", "platform"])
    parser.add_argument(
        "--art",
        nargs="+",
        default=["shared"],
        help="shared (the three paintings), validation (../shared/art/validation), own (benchmarks/validation) "
        "or image paths.",
    )
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--timing-only", action="store_true", help="Only the time per 512×512 image.")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="Override cloak parameters for a trial (steps, linf, budget_p, alpha, lr, intensity, quality).",
    )
    args = parser.parse_args()
    overrides = dict(_parse(item) for item in args.set)
    ensure_models_dir()
    paintings = artworks(args.art)
    if not paintings:
        print(f"bench_protect: no paintings in {ART}", file=sys.stderr)
        return 1
    settings = get_settings()
    print(f"bench_protect: {machine()}")
    for profile in [] if args.timing_only else args.profiles:
        cloaker = Cloaker(settings.replace(robustness=profile))
        trial = f", overrides {args.set}" if args.set else ""
        print(f"\nextractor {cloaker.name}, budget {cloaker.budget.kind}, intensity {settings.intensity}, "
              f"quality {settings.quality}, robustness profile {profile}{trial}")  # fmt: skip
        evaluator = Evaluator(cloaker, transform_names=args.transforms, view_names=["1024/jpeg75"], plot_resolutions=())
        rows = []
        numbers = []
        for path in paintings:
            evaluation, _ = evaluator.evaluate(path, name=path.name, **overrides)
            p = evaluation.protection
            cost = evaluation.cost
            values = [evaluation.mimic_mean, evaluation.mimic_worst, evaluation.views["1024/jpeg75"], p["clean"],
                      *(p[name] for name in args.transforms), evaluation.imperceptibility.ssim,
                      cost.seconds if cost else 0.0]  # fmt: skip
            numbers.append(values)
            rows.append([path.name, evaluation.target_style, *values])
            # One line per artwork as it finishes: a long run that is stopped still says what it measured.
            print(f"  {path.name}: target {evaluation.target_style}, mimic mean {values[0]:.3f}, "
                  f"worst {values[1]:.3f}, 1024/jpeg75 {values[2]:.3f}, SSIM {values[-2]:.3f}, {values[-1]:.0f} s",
                  flush=True)  # fmt: skip
        rows.append(["mean", "", *np.mean(numbers, axis=0).tolist()])
        header = ["artwork", "target", "mimic mean", "mimic worst", "1024/jpeg75", "working grid",
                  *args.transforms, "SSIM", "seconds"]  # fmt: skip
        print(table(rows, header))
    if not args.skip_timing:
        buffer = io.BytesIO()
        art_crop(512).save(buffer, "PNG")
        data = buffer.getvalue()
        baseline = "the original cloak (output, seeded target)"
        runs = {baseline: settings.replace(robustness="output", target_choice="seeded")}
        runs.update({profile: settings.replace(robustness=profile) for profile in args.profiles})
        timings = {}
        for name, run_settings in runs.items():
            runner = Cloaker(run_settings)
            runner.cloak(data, force=True, **{**overrides, "steps": 1})  # warm-up
            started = time.perf_counter()
            runner.cloak(data, force=True, **overrides)
            timings[name] = time.perf_counter() - started
        base = timings[baseline]
        figures = ", ".join(f"{name} {seconds:.1f} s ({seconds / base:.2f}×)" for name, seconds in timings.items())
        print(f"\ndefault preset, time per 512×512 image: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
