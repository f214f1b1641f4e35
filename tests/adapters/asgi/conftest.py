import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")

from tests.middleware.fixtures import broken_client, cloaked_jpeg, engine_client, fast_client, jpeg, png

__all__ = ["broken_client", "cloaked_jpeg", "engine_client", "fast_client", "jpeg", "png"]
