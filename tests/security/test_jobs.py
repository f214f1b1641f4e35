"""Job ids and the job store (items 9 and 14).

Before: ``/v1/jobs/<32 hex>%0A`` answered 502 (``$`` matches before a trailing newline, and the store
then refused the key with an untyped error); the Ray-free app kept jobs in the shared, predictable
``/tmp/stylecloak/jobs``, which any local user could create first and read or fill.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stylecloak.errors import ConfigurationError
from stylecloak.serve.config import AppConfig
from stylecloak.serve.jobs import JobBoard
from stylecloak.serve.store import LocalStore, check_key, open_store
from stylecloak.wire import JobNotFoundError

HEX = "a" * 32


@pytest.mark.parametrize("job_id", [HEX + "\n", HEX + "\r\n", "\n" + HEX, HEX.upper(), HEX[:-1], "../" + HEX[3:]])
def test_only_exact_job_ids_are_ids(tmp_path: Path, job_id: str) -> None:
    board = JobBoard(LocalStore(tmp_path / "jobs"))
    with pytest.raises(JobNotFoundError):
        board.status(job_id)


@pytest.mark.parametrize("key", ["jobs/x\n", "jobs/../x", "jobs//x", "/jobs/x", "jobs/x/"])
def test_store_keys_are_matched_whole(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


@pytest.fixture
def api(tmp_path: Path, cloaker) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    from stylecloak.serve.config import cpu_config
    from stylecloak.serve.local import create_local_app

    app = create_local_app(cpu_config(tokens=["t"], store=str(tmp_path / "jobs")), cloaker=cloaker)
    from starlette.testclient import TestClient

    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        yield client


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%00", "/result%0A"])
def test_a_job_id_with_a_line_break_is_a_404(api: httpx.Client, suffix: str) -> None:
    response = api.get(f"/v1/jobs/{HEX}{suffix}")
    assert response.status_code == 404, response.text


def test_the_default_store_is_a_private_folder_of_this_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLECLOAK_CACHE_DIR", str(tmp_path / "cache"))
    assert AppConfig().store == ""
    store = open_store(AppConfig().store)
    assert isinstance(store, LocalStore) and store.root == tmp_path / "cache" / "jobs"
    info = store.root.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    store.put("jobs/" + HEX + "/input", b"x")
    assert stat.S_IMODE((store.root / "jobs").stat().st_mode) == 0o700


def test_a_folder_someone_else_could_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # what another local user pre-creating /tmp/stylecloak/jobs would leave
    with pytest.raises(ConfigurationError, match="open to other users"):
        LocalStore(shared)
    monkeypatch.setenv("STYLECLOAK_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "jobs").mkdir(parents=True, mode=0o750)
    (tmp_path / "cache" / "jobs").chmod(0o750)
    with pytest.raises(ConfigurationError, match="open to other users"):
        open_store("")  # the default folder must be closed to the group too


@pytest.mark.skipif(os.getuid() != 0, reason="making a folder another user owns needs root")
def test_a_folder_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 12345, 12345)
    with pytest.raises(ConfigurationError, match="belongs to another user"):
        LocalStore(theirs)


def test_a_link_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "jobs").symlink_to(target)
    with pytest.raises(ConfigurationError, match="not a folder"):
        LocalStore(tmp_path / "jobs")
