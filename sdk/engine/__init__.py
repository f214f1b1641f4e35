"""The cloaking engine (needs the ``engine`` extra: torch, lpips, diffusers).

Nothing in here imports a web framework, Ray or boto3.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    from stylecloak.errors import MissingExtraError

    raise MissingExtraError("torch", "engine") from exc
