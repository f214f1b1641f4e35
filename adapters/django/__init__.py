"""Django adapter: the upload middleware and a cloaking ``STORAGES`` backend (needs the ``django`` extra).

    MIDDLEWARE = [..., "django.middleware.csrf.CsrfViewMiddleware",
                  "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "stylecloak.adapters.django.StylecloakMiddleware"]

The names below resolve lazily from :mod:`.middleware`, :mod:`.storage` and :mod:`.conf`, each of
which imports Django and raises :class:`~stylecloak.errors.MissingExtraError` when it is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylecloak.adapters.django.middleware import StylecloakMiddleware, stylecloak_exempt
    from stylecloak.adapters.django.storage import CloakingStorage

_LAZY = {
    "StylecloakMiddleware": "stylecloak.adapters.django.middleware",
    "stylecloak_exempt": "stylecloak.adapters.django.middleware",
    "CloakingStorage": "stylecloak.adapters.django.storage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["CloakingStorage", "StylecloakMiddleware", "stylecloak_exempt"]
