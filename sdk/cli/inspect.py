"""``stylecloak inspect IMAGE``: is it cloaked, what does its XMP reserve, and does its C2PA manifest hold."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from stylecloak.cli._common import print_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="Show an image's cloak marker, data-mining reservation and C2PA manifest state.",
        description=__doc__,
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="Image file.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    parser.add_argument(
        "--trust-anchors",
        type=Path,
        metavar="PEM",
        help="Root certificates whose signers count as trusted (else env STYLECLOAK_RIGHTS_C2PA_TRUST_ANCHORS).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylecloak.rights import ENV_PREFIX, inspect

    anchors = args.trust_anchors or os.environ.get(f"{ENV_PREFIX}C2PA_TRUST_ANCHORS") or None
    report = inspect(args.image, trust_anchors=anchors)
    if args.json:
        print_json({"image": str(args.image), **report.model_dump(mode="json")})
        return 0
    print(f"{args.image}")
    for line in report.lines():
        print(f"  {line}")
    return 0
