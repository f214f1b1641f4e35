"""Settings: which fields the engine reads, and the one table of limit defaults."""

from __future__ import annotations

from typing import Any

from stylecloak import bounds
from stylecloak.settings import ClientSettings, EngineSettings, Settings


def test_the_engine_ignores_the_client_transport_fields() -> None:
    base = Settings()
    remote = base.replace(backend="http", endpoint="http://cloak:8000", token="t", timeout_s=5, retries=0)
    assert remote.for_engine() == base.for_engine()
    assert base.replace(quality="fast").for_engine() != base.for_engine()
    assert set(ClientSettings.model_fields) | set(EngineSettings.model_fields) == set(Settings.model_fields)
    shared = set(ClientSettings.model_fields) & set(EngineSettings.model_fields)
    assert shared == {"max_bytes", "max_pixels", "min_side"}
    assert type(remote.for_engine()) is EngineSettings and remote.for_client().token is not None


def test_a_new_token_or_timeout_does_not_load_a_second_engine(fast_settings: Any) -> None:
    from stylecloak.engine.cloaker import default_cloaker

    first = default_cloaker(fast_settings)
    assert default_cloaker(fast_settings.replace(token="another", timeout_s=3.0)) is first
    assert default_cloaker(fast_settings.replace(seed=7)) is not first


def test_limit_defaults_come_from_one_table() -> None:
    from stylecloak.adapters.s3.config import Route
    from stylecloak.middleware.policy import UploadPolicy

    assert Settings().max_bytes == bounds.DEFAULT_MAX_BYTES == Route.model_fields["max_bytes"].default
    assert Settings().max_pixels == bounds.DEFAULT_MAX_PIXELS == UploadPolicy().max_pixels
    assert UploadPolicy().max_bytes == bounds.DEFAULT_UPLOAD_MAX_BYTES
    assert UploadPolicy().max_parts == bounds.DEFAULT_MAX_PARTS and Settings().min_side == bounds.DEFAULT_MIN_SIDE
