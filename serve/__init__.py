"""Ray Serve application: HTTP ingress and autoscaled cloak workers (needs the ``serve`` extra).

    serve run stylecloak.serve:build_app       # the application builder (args: an AppConfig)
    serve run stylecloak.serve:app             # the same with default settings
    stylecloak serve                           # a local CPU cluster on 127.0.0.1:8000

``import stylecloak.serve`` imports neither Ray nor FastAPI: ``build_app`` and ``app`` load
:mod:`stylecloak.serve.app` on first use; configuration lives in :mod:`stylecloak.serve.config`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "build_app": "stylecloak.serve.app",
    "AppConfig": "stylecloak.serve.config",
    "cpu_config": "stylecloak.serve.config",
    "cluster_config": "stylecloak.serve.config",
    "create_local_app": "stylecloak.serve.local",
}


def __getattr__(name: str) -> Any:
    if name == "app":
        value = importlib.import_module("stylecloak.serve.app").build_app()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'stylecloak.serve' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["AppConfig", "app", "build_app", "cluster_config", "cpu_config", "create_local_app"]
