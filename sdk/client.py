"""One client for backend code, whether the cloak runs in-process or on a stylecloak Serve cluster.

    >>> from stylecloak import Client
    >>> with Client() as client:                       # doctest: +SKIP
    ...     result = client.cloak(upload_bytes, artist_id="ada")

Backends: ``local`` (the in-process :class:`~stylecloak.engine.cloaker.Cloaker`, the default) and
``http`` (a Serve endpoint). Both return the same :class:`~stylecloak.result.CloakResult` and raise
only :mod:`stylecloak.errors` exceptions.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from stylecloak.errors import ConfigurationError
from stylecloak.images import ImageInput
from stylecloak.result import CloakResult
from stylecloak.settings import Settings, get_settings

Progress = Any  # Callable[[int, int], None]; kept loose so this module never imports the engine


class Backend(Protocol):
    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None,
        intensity: str | None,
        quality: str | None,
        target_style: str | None,
        progress: Progress | None,
        options: dict[str, Any],
    ) -> CloakResult: ...

    def close(self) -> None: ...


class LocalBackend:
    """Runs the engine in this process (needs the ``engine`` extra). Models load on first use."""

    def __init__(self, settings: Settings, cloaker: Any = None) -> None:
        self.settings = settings
        self._cloaker = cloaker

    @property
    def cloaker(self) -> Any:
        if self._cloaker is None:
            from stylecloak.engine.cloaker import default_cloaker

            self._cloaker = default_cloaker(self.settings)
        return self._cloaker

    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None,
        intensity: str | None,
        quality: str | None,
        target_style: str | None,
        progress: Progress | None,
        options: dict[str, Any],
    ) -> CloakResult:
        result: CloakResult = self.cloaker.cloak(
            image,
            artist_id=artist_id,
            intensity=intensity,
            quality=quality,
            target_style=target_style,
            progress=progress,
            **options,
        )
        return result

    def close(self) -> None:
        pass


# Backends other than local live in their own modules, imported only when chosen.
REMOTE_BACKENDS = {"http": "stylecloak.http_backend:HttpBackend"}


def make_backend(settings: Settings, cloaker: Any = None) -> Backend:
    if settings.backend == "local":
        return LocalBackend(settings, cloaker)
    target = REMOTE_BACKENDS.get(settings.backend)
    if target is None:
        raise ConfigurationError(f"unknown backend {settings.backend!r}")
    if not settings.endpoint:
        raise ConfigurationError(f"the {settings.backend} backend needs STYLECLOAK_ENDPOINT (or endpoint=...)")
    module, _, name = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module), name)(settings)
    return backend


class Client:
    """Cloak images through the configured backend. Use as a context manager, or call :meth:`close`."""

    def __init__(self, settings: Settings | None = None, *, cloaker: Any = None, **overrides: Any) -> None:
        base = settings or get_settings()
        if overrides.get("endpoint") and "backend" not in overrides:
            overrides["backend"] = "http"
        self.settings = base.replace(**overrides) if overrides else base
        self.backend = make_backend(self.settings, cloaker)

    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> CloakResult:
        return self.backend.cloak(
            image,
            artist_id=artist_id,
            intensity=intensity,
            quality=quality,
            target_style=target_style,
            progress=progress,
            options=options,
        )

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
