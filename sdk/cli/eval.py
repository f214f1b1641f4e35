"""``stylecloak eval IN...``: cloak (or take cloaked files) and measure protection, transfer and cost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stylecloak.cli._common import settings_from

DEFAULT_JSON = Path("stylecloak-eval.json")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="Measure how much cloaks protect (latent shift under transformations) and what they cost.",
        description=__doc__,
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="Original images.")
    parser.add_argument("--cloaked", nargs="+", type=Path, help="Already-cloaked files, one per input (skip cloaking).")
    parser.add_argument("--extractor", help="Attack extractor Φ the cloak is made and measured against.")
    parser.add_argument(
        "--against", nargs="+", default=[], metavar="EXTRACTOR", help="Other extractors for the transfer figure."
    )
    parser.add_argument("--transforms", nargs="+", metavar="NAME", help="Transformations to measure (registry names).")
    parser.add_argument(
        "--views",
        nargs="*",
        metavar="NAME",
        help="Mimic views to measure besides the standard ones (registry names; default: every extended view: "
        "crops, flips, buckets, other filters, the platform's deliveries; none given: the standard views only).",
    )
    parser.add_argument(
        "--plot-resolutions",
        nargs="*",
        type=int,
        metavar="PX",
        help="Short sides (px) of the report's shift-against-resolution plot, besides the standard views' "
        "(default: 384 448 512 576 640 768 896 1024; none given: the standard views' only).",
    )
    parser.add_argument("--intensity", choices=["low", "default", "high"])
    parser.add_argument("--quality", choices=["fast", "default", "slow"])
    parser.add_argument(
        "--robustness",
        help="Robustness profile to optimise against: mimic (default), platform, output, or slots such as "
        "'save;jpeg75,webp80;width400+jpeg85'.",
    )
    parser.add_argument("--target-style", help="Explicit target style.")
    parser.add_argument("--artist", help="Artist id (the target style is chosen and kept per artist).")
    parser.add_argument("--steps", type=int, help="Override the number of optimisation steps.")
    parser.add_argument("--report", type=Path, help="Write a self-contained HTML report here.")
    parser.add_argument(
        "--json",
        nargs="?",
        const=True,
        default=None,
        metavar="PATH",
        help="Write every number as JSON (default path: the report's, with .json; else stylecloak-eval.json).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylecloak.engine import transforms, views
    from stylecloak.engine.cloaker import Cloaker
    from stylecloak.engine.evaluate import Evaluator

    if args.cloaked and len(args.cloaked) != len(args.inputs):
        print("stylecloak: --cloaked needs one file per input", file=sys.stderr)
        return 2
    settings = settings_from(args, extractor=args.extractor, robustness=args.robustness)
    cloaker = Cloaker(settings)
    evaluator = Evaluator(
        cloaker,
        transform_names=args.transforms or transforms.EVAL_TRANSFORMS,
        view_names=args.views if args.views is not None else views.EXTENDED,
        plot_resolutions=args.plot_resolutions if args.plot_resolutions is not None else views.PLOT_RESOLUTIONS,
        against=args.against,
    )
    options: dict[str, Any] = {
        key: value
        for key, value in (
            ("intensity", args.intensity),
            ("quality", args.quality),
            ("artist_id", args.artist),
            ("steps", args.steps),
        )
        if value is not None
    }
    evaluations = []
    sheets = []
    for index, source in enumerate(args.inputs):
        cloaked = args.cloaked[index] if args.cloaked else None
        evaluation, result = evaluator.evaluate(
            source, cloaked=cloaked, target_style=args.target_style, name=str(source), **options
        )
        evaluations.append(evaluation)
        if args.report:
            shown = result if result is not None else Path(str(cloaked)).read_bytes()
            sheets.append(cloaker.compare(source, shown, evaluation.target_style))
        _print_summary(evaluation)
    if args.report:
        from stylecloak.engine.report_html import render

        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(render(evaluations, sheets), encoding="utf-8")
        print(f"report: {args.report}", file=sys.stderr)
    if args.json is not None:
        path = (
            Path(args.json)
            if isinstance(args.json, str)
            else (args.report.with_suffix(".json") if args.report else DEFAULT_JSON)
        )
        payload = {"images": [e.model_dump(mode="json") for e in evaluations], "mean": _means(evaluations)}
        path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"json: {path}", file=sys.stderr)
    return 0


def _means(evaluations: list[Any]) -> dict[str, Any]:
    count = len(evaluations)
    means: dict[str, Any] = {
        "mimic_mean": round(sum(e.mimic_mean for e in evaluations) / count, 4),
        "mimic_worst": round(sum(e.mimic_worst for e in evaluations) / count, 4),
        "views": {name: round(sum(e.views[name] for e in evaluations) / count, 4) for name in evaluations[0].views},
        "working_grid": {
            name: round(sum(e.protection[name] for e in evaluations) / count, 4) for name in evaluations[0].protection
        },
        "ssim": round(sum(e.imperceptibility.ssim for e in evaluations) / count, 4),
        "ssim_working": round(sum(e.imperceptibility.ssim_working for e in evaluations) / count, 4),
        "psnr": round(sum(e.imperceptibility.psnr for e in evaluations) / count, 2),
        "max_abs_change": round(max(e.imperceptibility.max_abs_change for e in evaluations), 4),
    }
    costs = [e.cost.seconds for e in evaluations if e.cost is not None]
    if costs:
        means["seconds"] = round(sum(costs) / len(costs), 2)
    return means


def _print_summary(evaluation: Any) -> None:
    imp = evaluation.imperceptibility
    print(f"{evaluation.input}: target {evaluation.target_style}; mimic views mean {evaluation.mimic_mean:.3f}, "
          f"worst {evaluation.mimic_worst:.3f}; full-size SSIM {imp.ssim:.3f}, PSNR {imp.psnr:.1f} dB")  # fmt: skip
    views = ", ".join(f"{name} {value:.3f}" for name, value in evaluation.views.items())
    print(f"  views: {views}")
    shifts = ", ".join(f"{name} {value:.3f}" for name, value in evaluation.protection.items())
    print(f"  working grid: {shifts}")
    if evaluation.transfer:
        transfer = ", ".join(f"{k} {'—' if v is None else f'{v:.3f}'}" for k, v in evaluation.transfer.items())
        print(f"  transfer: {transfer}")
