"""``stylecloak cloak IN... [-o OUT]``: cloak files or folders, with a progress bar per image."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stylecloak import bounds
from stylecloak.cli._common import print_json, settings_from
from stylecloak.errors import ConfigurationError, OutputError, StylecloakError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".avif"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cloak", help="Cloak images (files or folders).", description=__doc__)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="Image files or folders of images.")
    parser.add_argument("-o", "--output", help="Output file (one input) or folder (several).")
    parser.add_argument("--intensity", choices=["low", "default", "high"], help="Budget preset.")
    parser.add_argument("--quality", choices=["fast", "default", "slow"], help="Search-time preset.")
    parser.add_argument("--artist", help="Artist id: their target style is chosen once and reused.")
    parser.add_argument("--target-style", help="Explicit target style (see `stylecloak styles list`).")
    parser.add_argument(
        "--robustness",
        help="What to survive: mimic (default: the views trainers feed their models), platform or output (the "
        "512 px working grid only; cheaper), or slots written out.",
    )
    parser.add_argument("--steps", type=_bounded("steps"), help="Override the number of optimisation steps.")
    parser.add_argument(
        "--seed",
        type=_bounded("seed"),
        help=f"Seed, 0 to {bounds.MAX_SEED} (same input, seed and settings → same bytes).",
    )
    parser.add_argument("--recursive", "-r", action="store_true", help="Descend into sub-folders.")
    parser.add_argument("--force", action="store_true", help="Cloak even images that carry the marker.")
    parser.add_argument("--preview", type=Path, help="Write a before/after PNG (file, or folder for several).")
    parser.add_argument("--endpoint", help="Use a stylecloak Serve endpoint instead of the local engine.")
    parser.add_argument("--token", help="Bearer token for --endpoint (or STYLECLOAK_TOKEN).")
    parser.add_argument("--json", action="store_true", help="Print the reports as JSON on stdout.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
    rights = parser.add_argument_group(
        "rights", "Machine-readable do-not-train signals (XMP, C2PA); also from STYLECLOAK_RIGHTS_* variables."
    )
    rights.add_argument(
        "--rights",
        choices=["allowed", "notAllowed", "constrained"],
        help="Write the AI-training/data-mining reservation into each output (XMP; C2PA with a certificate).",
    )
    rights.add_argument("--rights-constraints", metavar="TEXT", help="Constraint text (needed for constrained).")
    rights.add_argument("--c2pa-cert", type=Path, metavar="PEM", help="C2PA signing certificate chain (PEM).")
    rights.add_argument("--c2pa-key", type=Path, metavar="PEM", help="C2PA signing private key (PEM).")
    rights.add_argument(
        "--c2pa-alg", choices=["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"], help="Key algorithm."
    )
    parser.set_defaults(handler=run)


def _bounded(name: str) -> Any:
    """An argparse type: a whole number inside :data:`stylecloak.bounds.LIMITS` (else a usage error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
            bounds.check({name: value})
        except (ValueError, ConfigurationError) as exc:
            raise argparse.ArgumentTypeError(getattr(exc, "message", None) or f"not a whole number: {text!r}") from exc
        return value

    parse.__name__ = name  # argparse names the type in its error message
    return parse


def rights_policy(args: argparse.Namespace) -> Any:
    """The rights policy the flags ask for, or None when no rights flag was given."""
    flags = {
        "use": args.rights,
        "constraints": args.rights_constraints,
        "c2pa_cert": args.c2pa_cert,
        "c2pa_key": args.c2pa_key,
        "c2pa_alg": args.c2pa_alg,
    }
    if all(value is None for value in flags.values()):
        return None
    from stylecloak.rights import RightsPolicy

    policy = RightsPolicy.from_env(**flags)
    if policy.has_signing_credentials:
        policy.signing_credentials()  # unreadable files fail once, here, not once per image
    return policy


def collect(inputs: list[Path], recursive: bool) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            pattern = "**/*" if recursive else "*"
            files.extend(sorted(p for p in item.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(item)
    return files


def output_path(source: Path, output: str | None, many: bool) -> Path:
    """Where ``source``'s cloak goes: ``output`` is a folder with several inputs, when it exists as
    one, or when written with a trailing slash (kept as a string: ``Path`` drops the slash)."""
    if output is None:
        return source.with_name(f"{source.stem}.cloaked{source.suffix}")
    if many or Path(output).is_dir() or output.endswith(("/", os.sep)):
        return Path(output) / source.name
    return Path(output)


def _key(path: Path) -> Path:
    """One name per file: the resolved path (links and ``..`` followed)."""
    return path.resolve()


def plan(files: list[Path], output: str | None) -> tuple[list[tuple[Path, Path]], list[dict[str, Any]]]:
    """(input, output) pairs to cloak, and the failures found before any cloak runs.

    An output is never an input (nor the same file under another name), and never another input's
    output: such an input is refused with its reason instead of overwriting anything.
    """
    unique: dict[Path, Path] = {}
    for source in files:
        unique.setdefault(_key(source), source)  # the same file named twice is cloaked once
    sources = list(unique.values())
    many = len(sources) > 1
    if output is not None and many and Path(output).exists() and not Path(output).is_dir():
        raise OutputError(f"-o {output} is a file; {len(sources)} inputs need a folder")
    pairs: list[tuple[Path, Path]] = []
    failures: list[dict[str, Any]] = []
    claimed: dict[Path, Path] = {}
    for source in sources:
        target = output_path(source, output, many)
        key = _key(target)
        overwritten = unique.get(key) or next((s for s in sources if _same_file(target, s)), None)
        if overwritten is not None:
            reason = f"its output {target} would overwrite the input {overwritten}"
        elif key in claimed:
            reason = f"its output {target} is already the output of {claimed[key]}"
        elif (unwritable := _unwritable(target)) is not None:
            reason = unwritable
        else:
            claimed[key] = source
            pairs.append((source, target))
            continue
        failures.append({"input": str(source), "error": OutputError.code, "message": reason})
    return pairs, failures


def _unwritable(target: Path) -> str | None:
    """Why ``target`` cannot be written (checked by really creating a file beside it), or None.
    Checked before the cloak, so no minutes are spent on an image whose output has nowhere to go."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write {target}: {exc.strerror or exc}"
    if target.is_dir():
        return f"cannot write {target}: it is a folder"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        # mkstemp creates 0600; an output file should get the usual permissions (umask applies).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _progress_bar(enabled: bool, name: str) -> tuple[Any, Any]:
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=0, desc=name, unit="step", leave=False, file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return bar, update


def run(args: argparse.Namespace) -> int:
    from stylecloak.client import Client

    files = collect(args.inputs, args.recursive)
    if not files:
        print("stylecloak: no images found", file=sys.stderr)
        return 2
    pairs, plan_failures = plan(files, args.output)
    failures = list(plan_failures)
    for failure in failures:
        print(f"{failure['input']}: {failure['message']}", file=sys.stderr)
    many = len(pairs) + len(failures) > 1
    settings = settings_from(
        args,
        endpoint=args.endpoint,
        token=args.token,
        backend="http" if args.endpoint else None,
        robustness=args.robustness,
    )
    options = {key: value for key, value in (("steps", args.steps), ("seed", args.seed)) if value is not None}
    if args.force:
        options["force"] = True
    policy = rights_policy(args)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    show_progress = (not args.no_progress and sys.stderr.isatty()) or os.environ.get("STYLECLOAK_PROGRESS") == "1"
    with Client(settings) as client:
        for source, target in pairs:
            bar, update = _progress_bar(show_progress, source.name)
            try:
                result = client.cloak(
                    source,
                    artist_id=args.artist,
                    intensity=args.intensity,
                    quality=args.quality,
                    target_style=args.target_style,
                    progress=update,
                    **options,
                    **_local_rights(client, policy),
                )
                result = _remote_rights(client, result, policy)
            except StylecloakError as exc:
                failures.append({"input": str(source), "error": exc.code, "message": exc.message})
                print(f"{source}: {exc.message}", file=sys.stderr)
                continue
            except Exception as exc:  # a bug must not abort the rest of the batch; say what it was
                message = f"internal error: {type(exc).__name__}: {exc}"
                failures.append({"input": str(source), "error": "internal_error", "message": message})
                print(f"{source}: {message}", file=sys.stderr)
                continue
            finally:
                if bar is not None:
                    bar.close()
            try:
                write_atomic(target, result.data)
            except OSError as exc:
                message = f"cannot write {target}: {exc.strerror or exc}"
                failures.append({"input": str(source), "error": OutputError.code, "message": message})
                print(f"{source}: {message}", file=sys.stderr)
                continue
            report = result.report
            results.append({"input": str(source), "output": str(target), "report": report.model_dump(mode="json")})
            if not args.json:
                signals = f", signals: {'+'.join(report.rights['written']) or 'none'}" if report.rights else ""
                # The mimic-view figure first: it is what a trainer's resize leaves of the cloak.
                mimic = "n/a" if report.mimic_shift is None else f"{report.mimic_shift:.3f}"
                worst = "" if report.mimic_worst is None else f" (worst view {report.mimic_worst:.3f})"
                print(
                    f"{source} → {target}: {report.target_style}, mimic-view shift {mimic}{worst}, "
                    f"working-grid shift {report.latent_shift:.3f}, SSIM {report.ssim:.3f}, "
                    f"{report.seconds:.1f}s{signals}"
                )
            if args.preview:
                try:
                    _write_preview(client, source, result, args.preview, many)
                except OSError as exc:
                    print(f"{source}: cannot write the preview: {exc.strerror or exc}", file=sys.stderr)
    seconds = time.perf_counter() - started
    if args.json:
        print_json({"images": results, "failed": failures, "seconds": round(seconds, 2)})
    total = len(pairs) + len(plan_failures)
    print(f"cloaked {len(results)} of {total} images ({len(failures)} failed) in {seconds:.1f}s", file=sys.stderr)
    return 1 if failures else 0


def _local_rights(client: Any, policy: Any) -> dict[str, Any]:
    """The engine writes the signals itself (right after encoding) when it runs in this process."""
    from stylecloak.client import LocalBackend

    return {"rights": policy} if policy is not None and isinstance(client.backend, LocalBackend) else {}


def _remote_rights(client: Any, result: Any, policy: Any) -> Any:
    """A remote endpoint's output gets the signals here, with this machine's signing credentials."""
    from stylecloak.client import LocalBackend

    if policy is None or isinstance(client.backend, LocalBackend):
        return result
    from stylecloak.result import CloakResult
    from stylecloak.rights import apply

    data, info = apply(result.data, result.format, policy)
    report = result.report.model_copy(update={"rights": info})
    return CloakResult(data=data, content_type=result.content_type, format=result.format, report=report)


def _write_preview(client: Any, source: Path, result: Any, preview: Path, many: bool) -> None:
    from stylecloak.client import LocalBackend

    backend = client.backend
    if not isinstance(backend, LocalBackend):
        print("stylecloak: --preview needs the local engine; skipped", file=sys.stderr)
        return
    path = preview / f"{source.stem}.compare.png" if many or preview.is_dir() else preview
    path.parent.mkdir(parents=True, exist_ok=True)
    backend.cloaker.compare(source, result).save(path)
