"""The client with the local backend: options passed through, local async jobs.

The job and async tests run over stylecloak.testing's fake engine (they are about the client); one
test runs the real engine through the client."""

from __future__ import annotations

import asyncio
import time

import pytest
from stylecloak import is_cloaked
from stylecloak.client import AsyncClient, Client
from stylecloak.client.backend import CloakCall, LocalBackend
from stylecloak.errors import AlreadyCloakedError, ConfigurationError, JobCancelledError
from stylecloak.wire import CloakOptions, JobNotFoundError

from tests.conftest import encoded, painting


@pytest.fixture
def fake(fast_settings):  # type: ignore[no-untyped-def]
    from stylecloak.testing import FakeCloaker

    return FakeCloaker(fast_settings, seconds_per_step=0.005)


@pytest.mark.engine
def test_local_client_cloaks_and_passes_engine_options(fast_settings, cloaker) -> None:
    with Client(fast_settings, cloaker=cloaker) as client:
        assert isinstance(client.backend, LocalBackend)
        result = client.cloak(encoded(painting()), artist_id="ada", steps=2)
        assert result.format == "PNG" and result.report.steps == 2 and is_cloaked(result.data)
        with pytest.raises(AlreadyCloakedError):
            client.cloak(result.data, steps=2)
        again = client.cloak(result.data, steps=2, force=True)  # `force` reaches Cloaker.cloak
        assert again.report.steps == 2
        assert client.stats.requests == 3 and client.stats.retries == 0


def test_local_job_reports_progress_and_result(fast_settings, fake) -> None:
    seen: list[tuple[int, int]] = []
    with Client(fast_settings, cloaker=fake) as client:
        job = client.submit(encoded(painting(seed=1)), steps=6)
        result = job.result(timeout=120, progress=lambda done, total: seen.append((done, total)))
        status = job.status()
        again = client.job(job.id).result(timeout=1)
    assert status.state == "succeeded" and status.progress == 1.0
    assert seen[-1] == (6, 6) and all(total == 6 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert result.report.steps == 6 and again.data == result.data


def test_local_job_cancel_stops_the_cloak(fast_settings, fake) -> None:
    with Client(fast_settings, cloaker=fake) as client:
        job = client.submit(encoded(painting(seed=2)), steps=5000)
        deadline = time.monotonic() + 60
        while not job.status().done:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        cancelled = job.cancel()
        assert cancelled.state == "cancelled"
        with pytest.raises(JobCancelledError):
            job.result(timeout=60)
        assert job.status().done < 5000
        with pytest.raises(JobNotFoundError):
            client.job("0" * 32).status()


def test_async_client_local_backend(fast_settings, fake) -> None:
    async def main() -> tuple[int, int]:
        async with AsyncClient(fast_settings, cloaker=fake) as client:
            result = await client.cloak(encoded(painting(seed=3)), steps=2)
            job = await client.submit(encoded(painting(seed=4)), steps=3)
            done = await job.result(timeout=120)
            return result.report.steps, done.report.steps

    assert asyncio.run(main()) == (2, 3)


def test_backend_choice_and_configuration_errors(fast_settings) -> None:
    with pytest.raises(ConfigurationError, match="STYLECLOAK_ENDPOINT"):
        Client(fast_settings, backend="http")
    with Client(fast_settings, endpoint="http://127.0.0.1:9", token="t") as client:
        assert client.backend.remote and client.settings.backend == "http"


def test_remote_options_are_validated_and_never_carry_signing_keys() -> None:
    with pytest.raises(ConfigurationError, match="bogus"):
        CloakCall.build(bogus=1)
    with pytest.raises(ConfigurationError, match="steps"):
        CloakCall.build(steps=0)
    rights = pytest.importorskip("stylecloak.rights")
    policy = rights.RightsPolicy(
        c2pa_cert_pem="-----BEGIN CERT", c2pa_key_pem="-----BEGIN KEY", tdm_policy_url="https://x/p"
    )
    call = CloakCall.build(artist_id="ada", intensity="high", steps=3, force=True, rights=policy)
    assert call.rights is policy  # a local engine signs with it; the remote gets it without credentials
    options = call.remote()
    assert options.rights is not None and options.rights["tdm_policy_url"] == "https://x/p"
    assert not any(key.startswith("c2pa_") for key in options.rights)
    query = options.to_query()
    assert query["steps"] == "3" and query["force"] == "true" and query["intensity"] == "high"
    assert CloakOptions.from_query(query) == options
