"""``mypy --strict`` over the four package folders, with ``stylecloak.*`` imports resolved.

The folders map onto one package (``sdk`` → ``stylecloak``, ``middleware`` → ``stylecloak.middleware``…,
see ``[tool.setuptools] package-dir``), which an editable install serves through an import hook that
mypy cannot follow: every ``from stylecloak.x import Y`` would be ``Any``. So this builds the package as
it is installed, a tree of symlinks under ``build/typecheck`` (what setuptools' strict editable mode
does), and checks that tree. Errors name the files inside it; each links to its folder's file.

    python tools/typecheck.py            # what `make lint` runs
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"


def package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in config.items()}


def build_tree() -> Path:
    if TREE.exists():
        shutil.rmtree(TREE)
    for package, folder in sorted(package_dirs().items()):
        target = TREE.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        nested = {name.split(".")[-1] for name in package_dirs() if name.startswith(package + ".")}
        for entry in folder.iterdir():
            if entry.name in nested or entry.name == "__pycache__" or entry.name.startswith("."):
                continue
            (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return TREE


def main(argv: list[str]) -> int:
    from mypy import api

    tree = build_tree()
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(tree / "stylecloak"), *argv])
    sys.stdout.write(stdout.replace(str(tree) + "/", "").replace(str(tree.relative_to(ROOT)) + "/", ""))
    sys.stderr.write(stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
