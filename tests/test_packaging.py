"""The distribution's layout: DESIGN.md's folder mapping, every subpackage listed, light imports."""

from __future__ import annotations

import subprocess
import sys
import tomllib

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


def test_the_models_package_never_imports_the_engine() -> None:
    """The engine uses models; models using the engine was a package cycle (models → engine.device)."""
    import ast

    for path in (ROOT / "sdk" / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("stylecloak.engine"), f"{path.name} imports {node.module}"
