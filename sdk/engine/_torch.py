"""Imported first by every engine module that computes, so a missing torch names the extra to install."""

from __future__ import annotations

from stylecloak.errors import MissingExtraError

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    raise MissingExtraError("torch", "engine") from exc
