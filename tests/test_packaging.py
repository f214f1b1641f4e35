"""The distribution's layout: DESIGN.md's folder mapping, every subpackage listed, light imports."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

MAPPING = {"stylecloak": "sdk", "stylecloak.middleware": "middleware", "stylecloak.serve": "serve",
           "stylecloak.adapters": "adapters"}  # fmt: skip


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == MAPPING
    listed = set(config["packages"])
    found = set()
    for package, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found == listed


def test_importing_stylecloak_needs_no_extras() -> None:
    """`import stylecloak` (and the client) must work where torch, web frameworks, Ray and boto3 are absent."""
    blocked = ["torch", "diffusers", "lpips", "ray", "boto3", "botocore", "django", "flask", "starlette", "fastapi"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import stylecloak, stylecloak.client, stylecloak.middleware, stylecloak.adapters, stylecloak.serve\n"
        "from stylecloak.cli import build_parser\n"
        "build_parser()\n"
        "print(stylecloak.is_cloaked(b'not an image'))\n"
        "try:\n"
        "    stylecloak.Cloaker\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "False"
    assert lines[1].startswith("MissingExtraError") and "stylecloak[engine]" in lines[1]


# What each part of sdk/ may import from the others ("core" is the top-level modules: errors, result,
# settings, options, images, marker, wire...). Lazy imports inside functions count too, except where
# a part may load another on first use.
NEVER = {
    "core": {"client", "engine", "models", "cli"},
    "models": {"client", "engine", "rights", "cli"},
    "engine": {"client", "cli"},
    "rights": {"client", "engine", "models", "cli"},
    "client": {"cli"},
}
ONLY_LAZILY = {"client": {"engine"}}  # the local backend loads the engine on its first cloak
# The package's front door and the fake engine for platforms' tests sit above the layers.
ABOVE = {"__init__.py", "__main__.py", "testing.py"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported stylecloak part, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "stylecloak" and len(parts) > 1:
                found.append((parts[1], id(node) in top))
    return found


def test_each_part_of_the_sdk_imports_only_the_parts_below_it() -> None:
    """Core types, then models and rights, then the engine, then the client tier; no cycles between folders."""
    checked = set()
    for path in (ROOT / "sdk").rglob("*.py"):
        relative = path.relative_to(ROOT / "sdk")
        if relative.parts[0] in ABOVE:
            continue
        part = relative.parts[0] if len(relative.parts) > 1 else "core"
        checked.add(part)
        for imported, module_level in _imports(path):
            assert imported not in NEVER.get(part, set()), f"{relative} ({part}) imports stylecloak.{imported}"
            if module_level:
                assert imported not in ONLY_LAZILY.get(part, set()), (
                    f"{relative} imports stylecloak.{imported} at import time"
                )
    assert checked >= set(NEVER)
