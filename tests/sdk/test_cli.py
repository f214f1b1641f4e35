from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import stylecloak
from PIL import Image
from stylecloak.cli import main

from tests.conftest import encoded, painting
from tests.conftest import fast_env as fast_variables


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch, fast_settings) -> None:  # type: ignore[no-untyped-def]
    for name, value in fast_variables().items():
        monkeypatch.setenv(name, value)


def test_cloak_one_file_with_json(tmp_path: Path, fast_env: None, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "art.jpg"
    source.write_bytes(encoded(painting(), "JPEG", quality=90))
    out = tmp_path / "out.jpg"
    code = main(["cloak", str(source), "-o", str(out), "--json", "--steps", "2", "--artist", "ada",
                 "--preview", str(tmp_path / "compare.png")])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    report = payload["images"][0]["report"]
    assert payload["failed"] == []
    assert report["steps"] == 2 and report["latent_shift"] > 0
    assert stylecloak.is_cloaked(out)
    with Image.open(tmp_path / "compare.png") as sheet:
        assert sheet.width > 3 * 100


def test_cloak_a_folder_reports_failures_with_nonzero_exit(tmp_path: Path, fast_env: None, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encoded(painting(seed=1)))
    (folder / "b.webp").write_bytes(encoded(painting(seed=2), "WEBP"))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    code = main(["cloak", str(folder), "-o", str(tmp_path / "out"), "--steps", "1"])
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.webp"]
    assert "broken.png" in captured.err and "cloaked 2 of 3 images (1 failed)" in captured.err


def test_default_output_is_beside_the_input_and_never_overwrites(tmp_path: Path, fast_env: None) -> None:
    source = tmp_path / "art.png"
    source.write_bytes(encoded(painting()))
    assert main(["cloak", str(source), "--steps", "1"]) == 0
    assert (tmp_path / "art.cloaked.png").is_file()
    assert main(["cloak", str(source), "-o", str(source), "--steps", "1"]) == 1
    assert not stylecloak.is_cloaked(source)


def test_models_and_styles_commands(capsys, shared_models: Path) -> None:  # type: ignore[no-untyped-def]
    assert main(["models", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["taef2"]["state"] == "ok"
    assert main(["models", "verify", "taef2"]) == 0
    assert "taef2/taef2_encoder.pth: ok" in capsys.readouterr().out
    assert main(["styles", "list", "--json"]) == 0
    names = [s["name"] for s in json.loads(capsys.readouterr().out)]
    assert "facets" in names and "cubism-picasso" in names


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stylecloak", "--version"], capture_output=True, text=True, check=True
    )
    assert stylecloak.__version__ in result.stdout


def test_an_output_written_with_a_trailing_slash_is_a_folder(tmp_path: Path) -> None:
    from stylecloak.cli.cloak import output_path

    source = tmp_path / "one.png"
    assert output_path(source, str(tmp_path / "cloaked") + "/", many=False) == tmp_path / "cloaked" / "one.png"
    assert output_path(source, str(tmp_path / "out.png"), many=False) == tmp_path / "out.png"
    assert output_path(source, None, many=False) == tmp_path / "one.cloaked.png"
