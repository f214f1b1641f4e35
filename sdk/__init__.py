"""stylecloak: style cloaks (the Glaze method) for art platforms.

``import stylecloak`` stays light: the engine (torch) is imported only when first used, so web
workers that only talk to a remote endpoint never load it.

    >>> import stylecloak
    >>> result = stylecloak.cloak("painting.jpg", artist_id="ada")   # doctest: +SKIP
    >>> result.report.latent_shift                                   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stylecloak._version import __version__
from stylecloak.errors import (
    AlreadyCloakedError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    StylecloakError,
    TruncatedImageError,
    UnsupportedImageError,
)
from stylecloak.marker import is_cloaked, read_marker
from stylecloak.result import CloakReport, CloakResult
from stylecloak.settings import Settings, get_settings

if TYPE_CHECKING:
    from stylecloak.client import AsyncClient, Client
    from stylecloak.engine.cloaker import Cloaker, cloak

# Names resolved on first use, so that importing the package never imports torch.
_LAZY = {
    "AsyncClient": "stylecloak.client",
    "Client": "stylecloak.client",
    "Cloaker": "stylecloak.engine.cloaker",
    "cloak": "stylecloak.engine.cloaker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stylecloak' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AlreadyCloakedError",
    "AsyncClient",
    "Client",
    "CloakReport",
    "CloakResult",
    "Cloaker",
    "ImageError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "InvalidImageError",
    "Settings",
    "StylecloakError",
    "TruncatedImageError",
    "UnsupportedImageError",
    "__version__",
    "cloak",
    "get_settings",
    "is_cloaked",
    "read_marker",
]
