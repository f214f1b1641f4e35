"""The CLI never overwrites an input, never writes two inputs to one file, and names every failure (items 5, 11).

Before: ``cloak x/a.png a.png -o .`` replaced ``a.png`` with the cloak of ``x/a.png``; ``-o out/`` wrote
one ``out/a.png`` for two inputs and said "cloaked 2 of 2"; ``-o existing.jpg`` for two inputs and
``-o /proc/x.png`` printed tracebacks after the cloak had been computed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from stylecloak.cli import main

from tests.conftest import encoded, fast_env, painting

STEPS = ["--steps", "2", "--target-style", "hatching", "--no-progress"]


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch, fast_settings) -> None:  # type: ignore[no-untyped-def]
    for name, value in fast_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """``x/a.png`` and ``a.png``: two inputs with one file name, working directory ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    first, second = tmp_path / "x" / "a.png", tmp_path / "a.png"
    first.write_bytes(encoded(painting(seed=1)))
    second.write_bytes(encoded(painting(seed=2)))
    return first, second


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: list[str], capsys) -> tuple[int, dict, str]:  # type: ignore[no-untyped-def]
    code = main(["cloak", *args, "--json", *STEPS])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_an_output_that_is_another_input_is_refused(fast: None, two: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    before = [digest(path) for path in two]
    code, report, err = run(["x/a.png", "a.png", "-o", "."], capsys)
    assert code == 1 and [digest(path) for path in two] == before  # no input touched
    reasons = {item["input"]: item for item in report["failed"]}
    assert (
        reasons["x/a.png"]["error"] == "output_error"
        and "would overwrite the input a.png" in reasons["x/a.png"]["message"]
    )
    assert "cloaked 0 of 2 images (2 failed)" in err


def test_two_inputs_never_share_one_output(fast: None, two: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    code, report, err = run(["x/a.png", "a.png", "-o", "out/"], capsys)
    assert code == 1 and [item["output"] for item in report["images"]] == ["out/a.png"]
    assert report["failed"][0]["input"] == "a.png" and "already the output of x/a.png" in report["failed"][0]["message"]
    assert "cloaked 1 of 2 images (1 failed)" in err


def test_the_same_input_named_twice_is_cloaked_once(fast: None, two: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    code, report, _ = run(["a.png", "./a.png"], capsys)
    assert code == 0 and len(report["images"]) == 1 and report["failed"] == []


def test_an_output_that_links_to_an_input_is_refused(  # type: ignore[no-untyped-def]
    fast: None, two: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    os.symlink(tmp_path / "a.png", tmp_path / "link.png")
    before = digest(tmp_path / "a.png")
    code, report, _ = run(["a.png", "-o", "link.png"], capsys)  # link.png is a.png under another name
    assert code == 1 and report["images"] == [] and "would overwrite the input" in report["failed"][0]["message"]
    assert digest(tmp_path / "a.png") == before


def test_an_existing_file_as_the_folder_of_several_outputs_is_refused_at_once(  # type: ignore[no-untyped-def]
    fast: None, two: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    (tmp_path / "existing.jpg").write_bytes(b"not a folder")
    assert main(["cloak", "x/a.png", "a.png", "-o", "existing.jpg", *STEPS]) == 1
    err = capsys.readouterr().err
    assert "is a file; 2 inputs need a folder" in err and "Traceback" not in err


def test_an_unwritable_output_fails_before_the_cloak_with_its_reason(
    fast: None, two: tuple[Path, Path], capsys
) -> None:  # type: ignore[no-untyped-def]
    code, report, err = run(["x/a.png", "-o", "/proc/x.png"], capsys)
    assert code == 1 and report["images"] == []
    failure = report["failed"][0]
    assert failure["error"] == "output_error" and "cannot write /proc/x.png" in failure["message"]
    assert report["seconds"] < 5  # refused before minutes of cloaking, not after
    assert "Traceback" not in err
