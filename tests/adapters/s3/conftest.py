"""Fixtures of the S3 adapter tests: one moto server per session, a fresh bucket and queues per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from tests.adapters.s3.harness import MotoServer

    server = MotoServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def stack(moto_url: str) -> Any:
    from tests.adapters.s3.harness import create_stack

    return create_stack(moto_url)


@pytest.fixture
def versioned_stack(moto_url: str) -> Any:
    from tests.adapters.s3.harness import create_stack

    return create_stack(moto_url, versioning=True)


@pytest.fixture(scope="session")
def s3_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """stylecloak.testing's FakeClient: the real client over a fake engine (these tests are about S3)."""
    from stylecloak.testing import FakeClient

    return FakeClient(cache_dir=tmp_path_factory.mktemp("fake-cache"))


@pytest.fixture(scope="session")
def s3_engine_client(cloaker: Any) -> Any:
    """A Client over the session's real, fast Cloaker, for the tests marked ``engine``."""
    from stylecloak.client import Client

    return Client(cloaker.settings, cloaker=cloaker)
