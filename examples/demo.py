"""`make demo`: cloak a sample artwork with the embedded default and write a before/after report.

Writes into --out: the cloaked file, `<name>.compare.png` (original, cloaked, amplified difference,
and what the TAEF2 autoencoder - a model's view - makes of each) and `<name>.report.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stylecloak.engine.cloaker import Cloaker
from stylecloak.errors import ModelNotFoundError, StylecloakError
from stylecloak.models import registry, weights
from stylecloak.settings import get_settings
from tqdm import tqdm

SHARED_ART = Path(__file__).resolve().parents[2] / "shared" / "art" / "starry_night.jpg"


def sample_image() -> Path:
    if SHARED_ART.is_file():
        return SHARED_ART
    # No shared folder: fall back to the public-domain photograph that matplotlib (an engine
    # dependency) ships, so the demo needs nothing beyond what the install brings.
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--image", type=Path, help="Cloak this image instead of the sample.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.image or sample_image()
    try:
        cloaker = Cloaker()
    except ModelNotFoundError:
        print("TAEF2 weights not found; downloading them (stylecloak models pull taef2)", file=sys.stderr)
        try:
            weights.pull(registry.get_spec("taef2"), get_settings())
        except StylecloakError as exc:
            print(f"demo: {exc.message}", file=sys.stderr)
            return 1
        cloaker = Cloaker()
    with tqdm(desc=f"cloaking {source.name}", unit="step", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = cloaker.cloak(source, artist_id="demo-artist", progress=progress, force=True)
    cloaked = args.out / f"{source.stem}.cloaked{source.suffix}"
    result.save(cloaked)
    compare = args.out / f"{source.stem}.compare.png"
    cloaker.compare(source, result).save(compare)
    report = args.out / f"{source.stem}.report.json"
    report.write_text(json.dumps(result.report.model_dump(mode="json"), indent=2))
    r = result.report
    print(f"cloaked {source} → {cloaked}")
    print(f"  target style {r.target_style!r} ({r.target_reason})")
    views = ", ".join(f"{name} {value:.3f}" for name, value in r.mimic_views.items())
    print(f"  mimic-view shift {r.mimic_shift:.3f} (worst view {r.mimic_worst:.3f}; {views})")
    print(
        f"  working-grid shift {r.latent_shift:.3f} ({r.extractor}), SSIM {r.ssim:.3f}, PSNR {r.psnr:.1f} dB, "
        f"budget {r.budget_kind} {r.budget_value:.3f}/{r.budget_p}, {r.steps} steps in {r.seconds:.1f}s "
        f"on {r.device} ({r.dtype})"
    )
    print(f"  before/after: {compare}")
    print(f"  report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
