"""Shared fixtures for the middleware and adapter tests (imported by each conftest).

``fast_client`` is :class:`stylecloak.testing.FakeClient`: the real client over a fake engine (no torch,
milliseconds a cloak), because these tests are about the adapters. ``engine_client`` runs the real
engine, for the few tests marked ``engine`` that check a real cloak through each adapter.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import encoded, painting

#: Every cloak in these tests: two optimiser steps (the fake counts them; the engine runs them).
FAST = {"steps": 2}


@pytest.fixture(scope="session")
def fast_client(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from stylecloak.testing import FakeClient

    return FakeClient(cache_dir=tmp_path_factory.mktemp("fake-cache"))


@pytest.fixture(scope="session")
def slow_client(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The fake client taking 5 s a cloak: long enough to be caught holding a slot."""
    from stylecloak.testing import FakeClient

    return FakeClient(cache_dir=tmp_path_factory.mktemp("fake-cache"), delay_s=5.0)


@pytest.fixture(scope="session")
def engine_client(fast_settings, cloaker):  # type: ignore[no-untyped-def]
    """A Client over the session's real, fast Cloaker (TAEF2 weights, a few optimiser steps)."""
    from stylecloak.client import Client

    return Client(fast_settings, cloaker=cloaker)


def client_for(request: pytest.FixtureRequest, engine: bool) -> Any:
    """The fake client, or the real engine's for a test parametrised with ``engine=True``."""
    return request.getfixturevalue("engine_client" if engine else "fast_client")


@pytest.fixture(scope="session")
def broken_client(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A client whose engine fails every cloak with ModelNotFoundError, as one without weights does."""
    from stylecloak.errors import ModelNotFoundError
    from stylecloak.testing import FakeClient

    return FakeClient(
        cache_dir=tmp_path_factory.mktemp("fake-cache"), fail_with=ModelNotFoundError("no TAEF2 weights here")
    )


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    return encoded(painting(160, 128, seed=3), "JPEG", quality=90)


@pytest.fixture(scope="session")
def png() -> bytes:
    return encoded(painting(144, 112, seed=4), "PNG")


@pytest.fixture(scope="session")
def cloaked_jpeg(fast_client, jpeg: bytes) -> bytes:  # type: ignore[no-untyped-def]
    data: bytes = fast_client.cloak(jpeg, artist_id="ada", **FAST).data
    return data
