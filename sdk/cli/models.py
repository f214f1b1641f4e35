"""``stylecloak models list | pull | verify``: the registered models and their weights."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stylecloak.cli._common import print_json, settings_from
from stylecloak.models import registry, weights


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="List, download and verify model weights.")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="Registered models and where their files are.")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)
    pull = commands.add_parser("pull", help="Download a model's files into the user cache, hash-checked.")
    pull.add_argument("names", nargs="+", help="Model names (see `models list`).")
    pull.add_argument("--mirror", help="Base URL to fetch from instead of each file's public address.")
    pull.add_argument("--force", action="store_true", help="Download even if a good copy exists.")
    pull.set_defaults(handler=run_pull)
    verify = commands.add_parser("verify", help="Check every present file against its pinned hash.")
    verify.add_argument("names", nargs="*", help="Model names (default: all).")
    verify.set_defaults(handler=run_verify)


def run_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    rows = []
    for spec in registry.all_specs():
        states = weights.status(spec, settings)
        state = (
            "ok"
            if states and all(s.state == "ok" for s in states)
            else ("corrupt" if any(s.state == "corrupt" for s in states) else "missing" if states else "hub")
        )
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "state": state,
                "description": spec.description,
                "files": [
                    {"file": s.filename, "state": s.state, "path": str(s.path) if s.path else None} for s in states
                ],
            }
        )
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']:<14} {row['kind']:<10} {row['state']:<8} {row['description']}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    settings = settings_from(args)
    bars: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(
                total=total or None,
                desc=name,
                unit="B",
                unit_scale=True,
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
            )
        bar.n = done
        bar.refresh()

    for name in args.names:
        spec = registry.get_spec(name)
        paths = weights.pull(spec, settings, mirror=args.mirror, force=args.force, progress=progress)
        for path in paths:
            print(f"{name}: {path}")
    for bar in bars.values():
        bar.close()
    return 0


def run_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    specs = [registry.get_spec(n) for n in args.names] if args.names else registry.all_specs()
    failed = False
    for spec in specs:
        for state in weights.status(spec, settings):
            if state.state == "corrupt" or (args.names and state.state == "missing"):
                failed = True
            where = state.path or state.detail
            print(f"{spec.name}/{state.filename}: {state.state} ({where})")
    return 1 if failed else 0
