"""Finding, verifying and downloading model weights.

Lookup order for every file: ``$STYLECLOAK_MODELS_DIR/<model>/<file>``, then the user cache
(``~/.cache/stylecloak/models/<model>/<file>``), then, for the LPIPS backbones only, torch's own hub
cache. A file that is found is always hash-checked before use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stylecloak.errors import DownloadError, ModelCorruptError, ModelNotFoundError
from stylecloak.models.registry import ModelSpec, WeightFile
from stylecloak.settings import EngineSettings

log = logging.getLogger(__name__)

CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_S = 60.0
FileState = Literal["ok", "missing", "corrupt"]

# (path, size, mtime) → hex digest, so repeated loads in one process hash each file once.
_digests: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    cached = _digests.get(key)
    if cached is None:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        cached = _digests[key] = digest.hexdigest()
    return cached


def user_models_dir(settings: EngineSettings) -> Path:
    return settings.cache_dir / "models"


def candidate_paths(spec: ModelSpec, weight: WeightFile, settings: EngineSettings) -> list[Path]:
    paths = []
    if settings.models_dir is not None:
        paths.append(settings.models_dir / spec.name / weight.filename)
    paths.append(user_models_dir(settings) / spec.name / weight.filename)
    if spec.kind == "lpips":
        torch_home = os.environ.get("TORCH_HOME") or str(Path.home() / ".cache" / "torch")
        paths.append(Path(torch_home) / "hub" / "checkpoints" / weight.filename)
    return paths


def verify(path: Path, weight: WeightFile) -> None:
    """Raise :class:`ModelCorruptError` unless ``path`` hashes to the pinned value."""
    digest = sha256_of(path)
    if not digest.startswith(weight.sha256):
        raise ModelCorruptError(
            f"{path} does not match its pinned SHA-256 (expected {weight.sha256}, got {digest}); "
            "delete it and run `stylecloak models pull` again",
        )


def find(spec: ModelSpec, filename: str, settings: EngineSettings) -> Path:
    """The verified path of ``filename`` of ``spec``, or a :class:`ModelNotFoundError` saying how to get it."""
    weight = spec.file(filename)
    searched = candidate_paths(spec, weight, settings)
    for path in searched:
        if path.is_file():
            verify(path, weight)
            return path
    where = ", ".join(str(p.parent) for p in searched)
    raise ModelNotFoundError(
        f"weights for {spec.name!r} ({filename}) not found (searched {where}); run "
        f"`stylecloak models pull {spec.name}`, or set STYLECLOAK_MODELS_DIR to a folder holding "
        f"{spec.name}/{filename}",
    )


@dataclass(frozen=True, slots=True)
class FileStatus:
    filename: str
    state: FileState
    path: Path | None
    detail: str = ""


def status(spec: ModelSpec, settings: EngineSettings) -> list[FileStatus]:
    """Where each file of ``spec`` is and whether it verifies; never raises for a missing file."""
    result = []
    for weight in spec.files:
        try:
            path = find(spec, weight.filename, settings)
        except ModelNotFoundError as exc:
            result.append(FileStatus(weight.filename, "missing", None, str(exc)))
        except ModelCorruptError as exc:
            result.append(FileStatus(weight.filename, "corrupt", None, str(exc)))
        else:
            result.append(FileStatus(weight.filename, "ok", path))
    return result


def _download(url: str, destination: Path, weight: WeightFile, progress: Callable[[int, int], None] | None) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the destination and rename, so a crash never leaves a half file under the real name.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{weight.filename}.", suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "stylecloak"})
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
                total = int(response.headers.get("Content-Length") or weight.size or 0)
                done = 0
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        got = digest.hexdigest()
        if not got.startswith(weight.sha256):
            raise DownloadError(
                f"downloaded {weight.filename} from {url} but its SHA-256 is {got}, expected "
                f"{weight.sha256}; the file was discarded",
            )
        os.replace(tmp, destination)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url}: {reason} (no network? fetch the file elsewhere and put it in "
            f"STYLECLOAK_MODELS_DIR/<model>/, or pass --mirror)",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def pull(
    spec: ModelSpec,
    settings: EngineSettings,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Path]:
    """Download every file of ``spec`` into the user cache, verified. Files already good are kept.

    ``mirror`` replaces each file's public address with ``<mirror>/<filename>``.
    """
    paths = []
    for weight in spec.files:
        destination = user_models_dir(settings) / spec.name / weight.filename
        if not force:
            try:
                paths.append(find(spec, weight.filename, settings))
                continue
            except (ModelNotFoundError, ModelCorruptError):
                pass
        url = f"{mirror.rstrip('/')}/{weight.filename}" if mirror else weight.url
        log.info("downloading %s from %s", weight.filename, url)

        def report(done: int, total: int, name: str = weight.filename) -> None:
            if progress is not None:
                progress(name, done, total)

        _download(url, destination, weight, report)
        paths.append(destination)
    return paths
