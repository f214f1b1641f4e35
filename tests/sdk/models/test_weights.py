"""Finding, verifying and pulling weights, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from stylecloak import errors
from stylecloak.models import weights
from stylecloak.models.registry import ModelSpec, WeightFile
from stylecloak.settings import Settings

GOOD = b"weights " * 1000
SPEC = ModelSpec(
    name="toy",
    kind="taesd",
    description="a test model",
    files=(WeightFile("toy.pth", hashlib.sha256(GOOD).hexdigest(), "http://127.0.0.1:9/toy.pth", len(GOOD)),),
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    (root / "good" / "toy.pth").write_bytes(GOOD)
    (root / "bad" / "toy.pth").write_bytes(GOOD[:-1] + b"X")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def settings(tmp_path: Path, models_dir: Path | None = None) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", models_dir=models_dir)


def test_missing_weights_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelNotFoundError, match="stylecloak models pull toy"):
        weights.find(SPEC, "toy.pth", settings(tmp_path))


def test_models_dir_comes_first_and_is_verified(tmp_path: Path) -> None:
    (tmp_path / "m" / "toy").mkdir(parents=True)
    (tmp_path / "m" / "toy" / "toy.pth").write_bytes(GOOD)
    assert weights.find(SPEC, "toy.pth", settings(tmp_path, tmp_path / "m")) == tmp_path / "m" / "toy" / "toy.pth"
    (tmp_path / "m" / "toy" / "toy.pth").write_bytes(b"tampered")
    with pytest.raises(errors.ModelCorruptError, match="SHA-256"):
        weights.find(SPEC, "toy.pth", settings(tmp_path, tmp_path / "m"))


def test_pull_downloads_and_verifies(tmp_path: Path, server: str) -> None:
    paths = weights.pull(SPEC, settings(tmp_path), mirror=f"{server}/good")
    assert paths == [tmp_path / "cache" / "models" / "toy" / "toy.pth"]
    assert paths[0].read_bytes() == GOOD
    assert weights.status(SPEC, settings(tmp_path))[0].state == "ok"


def test_pull_refuses_a_corrupted_file_and_leaves_nothing(tmp_path: Path, server: str) -> None:
    with pytest.raises(errors.DownloadError, match="SHA-256"):
        weights.pull(SPEC, settings(tmp_path), mirror=f"{server}/bad")
    folder = tmp_path / "cache" / "models" / "toy"
    assert not any(folder.iterdir()), "no partial or corrupt file is left behind"


def test_pull_reports_http_errors_and_no_network(tmp_path: Path, server: str) -> None:
    with pytest.raises(errors.DownloadError, match="HTTP 404"):
        weights.pull(SPEC, settings(tmp_path), mirror=f"{server}/missing")
    # Port 9 (discard) on loopback refuses connections: the same path as a machine without network.
    with pytest.raises(errors.DownloadError, match="no network"):
        weights.pull(SPEC, settings(tmp_path))


def test_cli_pull_and_verify(tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from stylecloak.cli import main
    from stylecloak.models import registry

    registry.register(SPEC, replace=True)
    monkeypatch.setenv("STYLECLOAK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STYLECLOAK_MODELS_DIR", raising=False)
    assert main(["models", "verify", "toy"]) == 1
    assert main(["models", "pull", "toy", "--mirror", f"{server}/good"]) == 0
    assert main(["models", "verify", "toy"]) == 0
    assert "toy/toy.pth: ok" in capsys.readouterr().out
