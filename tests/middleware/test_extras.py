"""Each adapter imports its framework only in its own module, and names the extra to install when missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("stylecloak.adapters.flask", "flask", "flask"),
    ("stylecloak.adapters.asgi", "starlette", "asgi"),
    ("stylecloak.adapters.django.middleware", "django", "django"),
    ("stylecloak.adapters.django.storage", "django", "django"),
]


@pytest.mark.parametrize(("module", "framework", "extra"), CASES)
def test_a_missing_framework_names_its_extra(module: str, framework: str, extra: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{framework!r}] = None\n"
        "import stylecloak.middleware, stylecloak.adapters.django\n"  # the neutral parts need no framework
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("MissingExtraError") and f"stylecloak[{extra}]" in result.stdout


def test_the_neutral_middleware_imports_no_framework() -> None:
    code = (
        "import sys\n"
        "import stylecloak.middleware\n"
        "print(sorted(name for name in ('django', 'flask', 'starlette', 'fastapi', 'werkzeug', 'torch') "
        "if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
