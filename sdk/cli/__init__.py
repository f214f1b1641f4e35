"""The ``stylecloak`` command line.

Each module in this package that defines ``register(subparsers)`` adds one command (or a group);
``register`` must not import heavy dependencies, so ``stylecloak --help`` stays fast and works
without extras. A command's handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from stylecloak._version import __version__
from stylecloak.errors import StylecloakError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylecloak",
        description="Style cloaks (the Glaze method) for artworks: cloak, evaluate, serve.",
    )
    parser.add_argument("--version", action="version", version=f"stylecloak {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="More logging (-vv for debug).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except StylecloakError as exc:
        print(f"stylecloak: error: {exc.message}", file=sys.stderr)
        return 1
    except ValidationError as exc:  # STYLECLOAK_* settings out of range (a seed of -1…): name them
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"stylecloak: error: invalid settings: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylecloak: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `stylecloak styles list | head`
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
