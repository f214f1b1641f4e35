"""Cost of the rights step per image, against re-encoding the same image with Pillow (the baseline).

    .venv/bin/python benchmarks/bench_rights.py [--repeat 20]

For a real painting (../shared/art/starry_night.jpg, else a generated one) as JPEG, PNG and WebP:
Pillow decode + re-encode with the same XMP (what a naive "add metadata" would cost, and what would
change the pixels), our container-level XMP write, XMP + C2PA signing (throwaway ES256 chain), and
``inspect`` on the signed file. Prints milliseconds (median) and each as a ratio of the baseline,
plus the bytes the signals add.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT.parent / "shared" / "art" / "starry_night.jpg"


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def source_image() -> Image.Image:
    if ART.is_file():
        with Image.open(ART) as image:
            return image.convert("RGB")
    sys.path.insert(0, str(ROOT))
    from tests.conftest import painting

    return Image.fromarray(painting(1024, 768))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from stylecloak.rights import RightsPolicy, apply, inspect
    from stylecloak.rights.testing import make_signing_chain

    image = source_image()
    print(f"image {image.width}×{image.height}, {args.repeat} runs each, median ms (× baseline)")
    with tempfile.TemporaryDirectory() as folder:
        chain = make_signing_chain(Path(folder))
        xmp_only = RightsPolicy()
        signed = RightsPolicy(c2pa_cert=chain.cert, c2pa_key=chain.key)
        header = (
            f"{'format':6} {'bytes':>9} {'re-encode':>10} {'xmp':>16} {'xmp+c2pa':>16} {'inspect':>16} {'added':>12}"
        )
        print(header)
        for fmt, options in (("JPEG", {"quality": 92}), ("PNG", {}), ("WEBP", {"quality": 92})):
            buffer = io.BytesIO()
            image.save(buffer, format=fmt, **options)
            data = buffer.getvalue()
            packet = apply(data, fmt, xmp_only)[0]

            def reencode(data: bytes = data, fmt: str = fmt, options: dict[str, object] = options) -> bytes:
                with Image.open(io.BytesIO(data)) as opened:
                    out = io.BytesIO()
                    opened.save(out, format=fmt, **options)
                    return out.getvalue()

            base = median_ms(reencode, args.repeat)
            xmp_ms = median_ms(lambda data=data, fmt=fmt: apply(data, fmt, xmp_only), args.repeat)
            sign_ms = median_ms(lambda data=data, fmt=fmt: apply(data, fmt, signed), args.repeat)
            signed_data = apply(data, fmt, signed)[0]
            inspect_ms = median_ms(lambda signed_data=signed_data: inspect(signed_data), args.repeat)
            added = f"+{len(packet) - len(data)}/+{len(signed_data) - len(data)}"
            print(
                f"{fmt:6} {len(data):>9} {base:>10.2f} {xmp_ms:>8.2f} ({xmp_ms / base:5.3f}) "
                f"{sign_ms:>8.2f} ({sign_ms / base:5.3f}) {inspect_ms:>8.2f} ({inspect_ms / base:5.3f}) {added:>12}"
            )
    print("added: bytes added by XMP only / by XMP + C2PA")


if __name__ == "__main__":
    main()
