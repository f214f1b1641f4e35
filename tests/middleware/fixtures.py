"""Shared fixtures for the middleware and adapter tests (imported by each conftest): real clients and images."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import encoded, painting

#: Every cloak in these tests: two optimiser steps on a small image (well under a second).
FAST = {"steps": 2}


@pytest.fixture(scope="session")
def fast_client(fast_settings, cloaker):  # type: ignore[no-untyped-def]
    from stylecloak.client import Client

    return Client(fast_settings, cloaker=cloaker)


@pytest.fixture(scope="session")
def broken_client(tmp_path_factory: pytest.TempPathFactory, fast_settings):  # type: ignore[no-untyped-def]
    """A real local backend with no model weights: every cloak fails with ModelNotFoundError."""
    from stylecloak.client import Client

    empty: Path = tmp_path_factory.mktemp("no-models")
    return Client(fast_settings.replace(models_dir=empty, cache_dir=empty))


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
