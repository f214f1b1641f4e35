"""Shared fixtures of the security tests: the real fast engine, and the images attacks carry."""

from __future__ import annotations

import pytest

from tests.conftest import encoded, painting
from tests.middleware.fixtures import broken_client, fast_client, slow_client

__all__ = ["broken_client", "fast_client", "slow_client"]


@pytest.fixture(scope="session")
def fresh_png() -> bytes:
    """A small PNG nobody has cloaked: anything that reaches a view with these pixels was not protected."""
    return encoded(painting(96, 80, seed=17))
