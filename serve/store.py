"""Object storage for job state and results: one small interface, a folder or S3 behind it.

Keys are ``/``-separated relative paths (``jobs/<id>/input``). Every write replaces a whole object
atomically, so a reader sees the old value or the new one, never half of one. The store is what
lets any ingress replica answer for any job, and a restart lose nothing.

    open_store("file:///var/lib/stylecloak/jobs")      # a folder (one node, or a shared volume)
    open_store("s3://bucket/prefix", endpoint_url=…)   # S3 or an S3-compatible service (boto3)
    open_store("")                                     # this user's private folder (0700, owner checked)

A folder holds other people's uploads, so it is never one another local user could have made or can
write: it is created 0700, and one that exists must belong to this user (or root) and not be writable
by everyone; the default folder must also be closed to group and others.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from stylecloak.errors import ConfigurationError, MissingExtraError, StoreUnavailableError

_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def delete(self, keys: list[str]) -> None: ...


def check_key(key: str) -> str:
    # fullmatch: "$" would also match before a trailing newline.
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid store key {key!r}")
    return key


def private_folder() -> Path:
    """This user's default job folder: ``<cache dir>/jobs`` (``STYLECLOAK_CACHE_DIR``)."""
    from stylecloak.settings import get_settings

    return get_settings().cache_dir / "jobs"


def _check_folder(path: Path, *, private: bool) -> None:
    """Refuse a folder another local user made or may write into (they could read or plant jobs)."""
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"the job store {path} is not a folder (a link or a file)")
    if info.st_uid not in (os.getuid(), 0):
        raise ConfigurationError(f"the job store {path} belongs to another user (uid {info.st_uid})")
    open_to = stat.S_IRWXG | stat.S_IRWXO if private else stat.S_IWOTH
    if info.st_mode & open_to:
        raise ConfigurationError(
            f"the job store {path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); chmod it 700"
        )


def _private_dirs(root: Path, folder: Path) -> None:
    """Create ``folder`` (inside ``root``) and any missing folder between them, each 0700."""
    for step in reversed([folder, *folder.relative_to(root).parents][:-1]):
        target = step if step.is_absolute() else root / step
        with contextlib.suppress(FileExistsError):
            target.mkdir(mode=0o700)


class LocalStore:
    """A folder. Writes go to a temporary file that is renamed into place (atomic on POSIX).

    ``private``: the folder must be closed to group and others too (the default per-user folder).
    """

    def __init__(self, root: str | os.PathLike[str], *, private: bool = False) -> None:
        self.root = Path(root)
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                self.root.mkdir(mode=0o700)
            _check_folder(self.root, private=private)
        except OSError as exc:
            raise ConfigurationError(f"cannot create the job store folder {self.root}: {exc.strerror}") from exc

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            _private_dirs(self.root, path.parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot write {key} to the job store: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {key} from the job store: {exc.strerror or exc}") from exc

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self._path(key).unlink(missing_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(f"cannot delete {key} from the job store: {exc.strerror}") from exc


class S3Store:
    """An S3 bucket (or an S3-compatible service), through boto3 (the ``s3`` extra)."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            try:
                import boto3
            except ImportError as exc:
                raise MissingExtraError("boto3", "s3") from exc
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, {self.prefix!r})"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except self._errors as exc:
            raise StoreUnavailableError(f"cannot write {key} to s3://{self.bucket}: {exc}") from exc

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data: bytes = response["Body"].read()
            return data
        except self._errors as exc:
            if _missing(exc):
                return None
            raise StoreUnavailableError(f"cannot read {key} from s3://{self.bucket}: {exc}") from exc

    def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        objects = [{"Key": self._key(key)} for key in keys]
        try:
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        except self._errors as exc:
            raise StoreUnavailableError(f"cannot delete from s3://{self.bucket}: {exc}") from exc


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "404", "NotFound")


def open_store(url: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """The store a config's ``store`` names: ``s3://bucket/prefix``, ``file:///path``, a plain path, or
    empty for this user's private folder."""
    if not url:
        return LocalStore(private_folder(), private=True)
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"the store {url!r} names no bucket")
        return S3Store(parsed.netloc, unquote(parsed.path), endpoint_url=endpoint_url)
    if parsed.scheme == "file":
        return LocalStore(unquote(parsed.path))
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # a plain path (or a Windows drive)
        return LocalStore(os.path.expanduser(url))
    raise ConfigurationError(f"unknown job store {url!r}: use s3://bucket/prefix or a folder")
