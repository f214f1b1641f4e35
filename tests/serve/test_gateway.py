"""The HTTP API over a real socket, without Ray: sync cloaks, jobs, auth, limits, typed errors."""

from __future__ import annotations

import asyncio
import io
import json
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from stylecloak import is_cloaked  # noqa: E402
from stylecloak.client import AsyncClient, Client  # noqa: E402
from stylecloak.errors import (  # noqa: E402
    AlreadyCloakedError,
    ConfigurationError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    JobCancelledError,
    ServerError,
    TruncatedImageError,
    UnauthorizedError,
)
from stylecloak.serve.jobs import JobBoard  # noqa: E402
from stylecloak.serve.store import LocalStore  # noqa: E402
from stylecloak.wire import REPORT_HEADER, CloakOptions, JobNotFoundError, decode_report  # noqa: E402

from tests.conftest import encoded, painting  # noqa: E402
from tests.serve.conftest import TOKEN, LocalServer  # noqa: E402


def client(server: LocalServer, **overrides: object) -> Client:
    return Client(endpoint=server.url, token=TOKEN, retries=0, **overrides)


def psnr(a: bytes, b: bytes) -> float:
    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def test_sync_cloak_over_http(local_server: LocalServer) -> None:
    upload = encoded(painting(seed=10))
    with client(local_server) as remote:
        result = remote.cloak(upload, artist_id="ada", steps=2)
    assert result.format == "PNG" and result.content_type == "image/png"
    assert result.report.steps == 2 and result.report.size == (160, 128) and is_cloaked(result.data)
    assert 25 < psnr(upload, result.data) < 99  # changed, and still the same picture


def test_multipart_upload_and_report_header(local_server: LocalServer) -> None:
    upload = encoded(painting(seed=11), "JPEG", quality=90)
    response = httpx.post(
        f"{local_server.url}/v1/cloak",
        params={"steps": 2},
        files={"image": ("a.jpg", upload, "image/jpeg")},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert decode_report(response.headers[REPORT_HEADER]).steps == 2 and is_cloaked(response.content)


def test_auth_is_required_except_for_health(local_server: LocalServer) -> None:
    with Client(endpoint=local_server.url, retries=0) as anonymous, pytest.raises(UnauthorizedError):
        anonymous.cloak(encoded(painting()), steps=2)
    with Client(endpoint=local_server.url, token="wrong", retries=0) as wrong, pytest.raises(UnauthorizedError):
        wrong.job("a" * 32).status()
    raw = httpx.post(f"{local_server.url}/v1/cloak", content=b"x", headers={"Authorization": "Basic abc"})
    assert raw.status_code == 401 and raw.headers["www-authenticate"] == "Bearer"
    assert raw.json()["error"] == "unauthorized"
    assert httpx.get(f"{local_server.url}/healthz").json()["status"] == "ok"


def test_oversize_upload_is_413(local_server: LocalServer) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    big = encoded(noise)  # ~480 kB: over this server's 300 kB request limit
    assert len(big) > 300_000
    with client(local_server) as remote:
        with pytest.raises(ImageTooLargeError):
            remote.cloak(big, steps=2)
        with pytest.raises(ImageTooLargeError):
            remote.submit(big, steps=2)
    # Without Content-Length (chunked), the limit holds while reading.
    chunked = httpx.post(
        f"{local_server.url}/v1/cloak",
        content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert chunked.status_code == 413 and chunked.json()["error"] == "image_too_large"


def test_bad_images_are_typed_4xx(local_server: LocalServer) -> None:
    png = encoded(painting(seed=12))
    with client(local_server) as remote:
        with pytest.raises(InvalidImageError):
            remote.cloak(b"this is not an image at all", steps=2)
        with pytest.raises(TruncatedImageError):
            remote.cloak(png[: len(png) // 2], steps=2)
        with pytest.raises(ImageTooSmallError):
            remote.submit(encoded(painting(32, 32)), steps=2)  # refused at submit, not as a failed job
        with pytest.raises(InvalidImageError):
            remote.submit(b"GIF89a nonsense", steps=2)
    raw = httpx.post(f"{local_server.url}/v1/cloak", content=b"junk", headers={"Authorization": f"Bearer {TOKEN}"})
    assert raw.status_code == 400 and raw.json()["error"] == "invalid_image"


def test_bad_options_are_400(local_server: LocalServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    png = encoded(painting())
    unknown = httpx.post(f"{local_server.url}/v1/cloak?bogus=1", content=png, headers=headers)
    too_many = httpx.post(f"{local_server.url}/v1/cloak?steps=100000", content=png, headers=headers)
    assert unknown.status_code == too_many.status_code == 400
    assert unknown.json()["error"] == too_many.json()["error"] == "configuration_error"
    with client(local_server) as remote, pytest.raises(ConfigurationError):
        remote.cloak(png, steps=100000)


def test_job_with_progress(local_server: LocalServer) -> None:
    upload = encoded(painting(seed=13))
    seen: list[tuple[int, int]] = []
    with client(local_server) as remote:
        job = remote.submit(upload, artist_id="ada", steps=12)
        result = job.result(timeout=120, progress=lambda done, total: seen.append((done, total)))
        status = job.status()
        # A second client (any replica, any process) can follow the same job by its id.
        with client(local_server) as other:
            assert other.job(job.id).result(timeout=5).data == result.data
    assert status.state == "succeeded" and status.done == status.total == 12 and status.attempts == 1
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert result.report.steps == 12 and is_cloaked(result.data) and psnr(upload, result.data) > 25


def test_progress_callback_runs_a_remote_cloak_as_a_job(local_server: LocalServer) -> None:
    seen: list[tuple[int, int]] = []
    with client(local_server) as remote:
        result = remote.cloak(encoded(painting(seed=14)), steps=8, progress=lambda d, t: seen.append((d, t)))
    assert result.report.steps == 8 and seen[-1] == (8, 8)


def test_cancel_stops_a_job(local_server: LocalServer) -> None:
    with client(local_server) as remote:
        job = remote.submit(encoded(painting(seed=15)), steps=3000)
        deadline = time.monotonic() + 60
        while job.status().state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert job.cancel().state == "cancelled"
        with pytest.raises(JobCancelledError):
            job.result(timeout=30)
        # The worker stopped early: a following request is served promptly.
        started = time.monotonic()
        remote.cloak(encoded(painting(seed=16)), steps=2)
        assert time.monotonic() - started < 30
        assert job.status().done < 3000
        with pytest.raises(JobNotFoundError):
            remote.job("f" * 32).status()
        with pytest.raises((JobNotFoundError, ServerError)):  # never a path outside the store
            remote.job("../../etc").status()


def test_already_cloaked_is_refused_at_submit_unless_forced(local_server: LocalServer) -> None:
    with client(local_server) as remote:
        cloaked = remote.cloak(encoded(painting(seed=17)), steps=2).data
        with pytest.raises(AlreadyCloakedError):
            remote.submit(cloaked, steps=2)
        assert remote.submit(cloaked, steps=2, force=True).result(timeout=60).report.steps == 2


def test_a_job_whose_driver_vanished_is_resumed(local_server: LocalServer) -> None:
    """An ingress restart loses its in-memory tasks; the job in the store is picked up by the next reader."""
    board = JobBoard(LocalStore(local_server.store))
    upload = encoded(painting(seed=18))
    record = board.create(upload, CloakOptions(steps=3), (160, 128))
    # Written as if by a replica that died a long time ago: old creation time, no heartbeat since.
    board.store.put(
        board.key(record.id, "job.json"), record.model_copy(update={"created_at": 1.0}).model_dump_json().encode()
    )
    with client(local_server) as remote:
        job = remote.job(record.id)
        result = job.result(timeout=120)
        assert job.status().attempts == 1 and result.report.steps == 3


def test_rights_signals_reach_the_response(local_server: LocalServer) -> None:
    rights = pytest.importorskip("stylecloak.rights")
    policy = rights.RightsPolicy(tdm_policy_url="https://example.org/tdm")
    query = CloakOptions.build(steps=2, rights=policy).to_query()
    response = httpx.post(
        f"{local_server.url}/v1/cloak",
        params=query,
        content=encoded(painting(seed=19)),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-robots-tag"] == "noai, noimageai"
    assert response.headers["tdm-reservation"] == "1" and response.headers["tdm-policy"] == "https://example.org/tdm"
    assert decode_report(response.headers[REPORT_HEADER]).rights is not None


def test_openapi_documents_the_v1_api(local_server: LocalServer) -> None:
    document = httpx.get(f"{local_server.url}/openapi.json").json()
    assert {"/v1/cloak", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result", "/healthz"} <= set(
        document["paths"]
    )
    cloak = document["paths"]["/v1/cloak"]["post"]
    assert "application/octet-stream" in cloak["requestBody"]["content"]
    assert {"steps", "artist_id", "rights"} <= {p["name"] for p in cloak["parameters"]}
    assert "HTTPBearer" in json.dumps(document["components"]["securitySchemes"])
    assert set(document["paths"]["/v1/jobs/{job_id}"]) == {"get", "delete"}


def test_async_client_over_http(local_server: LocalServer) -> None:
    async def main() -> tuple[int, list[tuple[int, int]], str]:
        seen: list[tuple[int, int]] = []
        async with AsyncClient(endpoint=local_server.url, token=TOKEN, retries=0) as remote:
            result = await remote.cloak(encoded(painting(seed=60)), steps=2)
            followed = await remote.cloak(
                encoded(painting(seed=61)), steps=5, progress=lambda d, t: seen.append((d, t))
            )
            job = await remote.submit(encoded(painting(seed=62)), steps=3000)
            cancelled = await job.cancel()
            return result.report.steps + followed.report.steps, seen, cancelled.state

    steps, seen, state = asyncio.run(main())
    assert steps == 7 and seen[-1] == (5, 5) and state == "cancelled"
