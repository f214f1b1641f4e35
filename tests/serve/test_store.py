"""The job store (a folder, and S3 through moto's server over real HTTP) and the job board on it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from stylecloak.errors import ConfigurationError, InvalidImageError, JobCancelledError, JobFailedError, ServerError
from stylecloak.result import CloakReport, CloakResult
from stylecloak.serve.jobs import JobBoard
from stylecloak.serve.store import LocalStore, ObjectStore, S3Store, open_store
from stylecloak.wire import CloakOptions, JobNotFoundError, JobNotReadyError, decode_report

from tests.serve.conftest import free_port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:  # type: ignore[no-untyped-def]
    if request.param == "folder":
        return LocalStore(tmp_path / "jobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    import boto3

    bucket = f"jobs-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    opened = open_store(f"s3://{bucket}/stylecloak", endpoint_url=endpoint)
    assert isinstance(opened, S3Store)
    return opened


def test_store_contract(store: ObjectStore) -> None:
    assert store.get("jobs/a/missing") is None
    store.put("jobs/a/x", b"one")
    store.put("jobs/a/x", b"two")
    store.put("jobs/a/y", b"")
    assert store.get("jobs/a/x") == b"two" and store.get("jobs/a/y") == b""
    store.delete(["jobs/a/x", "jobs/a/never-there"])
    assert store.get("jobs/a/x") is None and store.get("jobs/a/y") == b""
    for bad in ("../escape", "/absolute", "a//b", "a/../b", ""):
        with pytest.raises(ValueError):
            store.put(bad, b"x")


def test_open_store_urls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(open_store(f"file://{tmp_path}/a"), LocalStore)
    assert isinstance(open_store(str(tmp_path / "b")), LocalStore)
    with pytest.raises(ConfigurationError):
        open_store("ftp://example.org/x")
    with pytest.raises(ConfigurationError):
        open_store("s3:///no-bucket")


def _result(data: bytes) -> CloakResult:
    report = CloakReport.model_validate_json(
        '{"version":"0","extractor":"taef2","device":"cpu","dtype":"float32","target_style":"mosaic",'
        '"target_reason":"explicit","intensity":"default","quality":"fast","budget_kind":"ssim","budget_p":0.05,'
        '"budget_value":0.01,"linf":0.03,"steps":2,"seconds":0.1,"latent_shift":0.2,"ssim":0.99,"psnr":40.0,'
        '"max_abs_change":0.03,"size":[160,128],"working_size":[160,128],"settings_hash":"abc"}'
    )
    return CloakResult(data=data, content_type="image/png", format="PNG", report=report)


def test_job_board_lifecycle(store: ObjectStore) -> None:
    board = JobBoard(store, stale_s=60)
    record = board.create(b"upload", CloakOptions(steps=2, artist_id="ada"), (160, 128))
    assert board.status(record.id).state == "queued"
    with pytest.raises(JobNotReadyError):
        board.result(record.id)
    assert board.begin_attempt(record.id) == 1
    board.progress(record.id, 1, 2)
    running = board.status(record.id)
    assert (running.state, running.done, running.total, running.attempts) == ("running", 1, 2, 1)
    loaded, data = board.input(record.id)
    assert data == b"upload" and loaded.input_sha256 == hashlib.sha256(b"upload").hexdigest()
    board.succeed(record.id, loaded.input_sha256, _result(b"cloaked"))
    stored = board.result(record.id)
    assert stored.data == b"cloaked" and decode_report(stored.report).steps == 2 and stored.options.artist_id == "ada"
    assert board.status(record.id).state == "succeeded"
    # A stored result that is not this upload's cloak is never served.
    store.put(board.key(record.id, "result"), b"someone else's image")
    with pytest.raises(ServerError):
        board.result(record.id)
    assert board.cancel(record.id).state == "cancelled"
    assert store.get(board.key(record.id, "input")) is None and store.get(board.key(record.id, "result")) is None
    with pytest.raises(JobCancelledError):
        board.result(record.id)


def test_failed_and_unknown_jobs(store: ObjectStore) -> None:
    board = JobBoard(store, stale_s=0.0)
    record = board.create(b"upload", CloakOptions(), (64, 64))
    assert board.is_stale(board.status(record.id), now=record.created_at + 1)
    board.fail(record.id, InvalidImageError("junk"))
    status = board.status(record.id)
    assert status.state == "failed" and status.error == {"error": "invalid_image", "message": "junk", "status": 400}
    assert not board.is_stale(status)
    with pytest.raises(JobFailedError) as caught:
        board.result(record.id)
    assert isinstance(caught.value.__cause__, InvalidImageError)
    for unknown in ("0" * 32, "../../x", "ABC"):
        with pytest.raises(JobNotFoundError):
            board.status(unknown)
