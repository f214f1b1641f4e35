"""``stylecloak styles list``: the target-style catalogue."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stylecloak.cli._common import print_json, settings_from
from stylecloak.engine.styles import TEXT_STYLES, Catalogue


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("styles", help="The target styles a cloak can aim at.")
    commands = parser.add_subparsers(dest="styles_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="List the catalogue.")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)
    render = commands.add_parser("render", help="Write each style's picture as PNG into a folder.")
    render.add_argument("folder", type=Path)
    render.add_argument("--size", type=int, default=256)
    render.set_defaults(handler=run_render)


def _catalogue(args: argparse.Namespace) -> Catalogue:
    settings = settings_from(args)
    return Catalogue(references=settings.style_images)


def run_list(args: argparse.Namespace) -> int:
    styles = [*_catalogue(args), *TEXT_STYLES]
    if args.json:
        print_json([{"name": s.name, "kind": s.kind, "description": s.description} for s in styles])
        return 0
    for style in styles:
        print(f"{style.name:<32} {style.kind:<11} {style.description}")
    return 0


def run_render(args: argparse.Namespace) -> int:
    args.folder.mkdir(parents=True, exist_ok=True)
    for style in _catalogue(args).pictured():
        style.render(args.size).save(args.folder / f"{style.name.replace(':', '_')}.png")
    print(f"wrote {len(_catalogue(args).pictured())} styles to {args.folder}")
    return 0
