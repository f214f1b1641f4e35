"""The type check reaches across the package folders: an error at a boundary fails it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import typecheck  # noqa: E402

pytest.importorskip("mypy")

# The middleware hands its policy's options to the client: a dict there is a type error only when
# mypy sees stylecloak.* (with the imports as Any, as before tools/typecheck.py, it passed).
WRONG = """
from stylecloak.middleware.core import DeferredUpload
from stylecloak.middleware.policy import UploadPolicy

def hand_over(job: DeferredUpload) -> UploadPolicy:
    return UploadPolicy(cloak_options=job.options.model_dump())

def wrong(job: DeferredUpload) -> int:
    return job.options
"""


def test_a_type_error_across_packages_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy import api

    snippet = tmp_path / "site_code.py"
    snippet.write_text(WRONG)
    monkeypatch.setenv("MYPYPATH", str(typecheck.build_tree()))
    out, _, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"), str(snippet)]
    )
    assert status == 1, out
    assert 'Incompatible return value type (got "CloakOptions", expected "int")' in out
    assert out.count("error:") == 1, out
