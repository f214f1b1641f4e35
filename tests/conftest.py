"""Shared fixtures: real TAEF2 weights, a session-wide style cache, sample images, fast settings."""

from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Every Ray cluster a test starts is closed the way `stylecloak serve` closes its own (see
# sdk/cli/serve.py): Ray's token auth on. Set here, before any test module is collected: Ray reads these
# once, when it is first imported, and modules collected before tests/serve (the Helm tests import
# stylecloak.serve.config) import it. Set in tests/serve/conftest.py instead, the driver read
# "disabled" while the GCS it started required a token, and no cluster started.
os.environ.update(
    {"RAY_AUTH_MODE": "token", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ART = SHARED / "art"


def models_dir() -> Path | None:
    configured = os.environ.get("STYLECLOAK_MODELS_DIR")
    if configured:
        return Path(configured)
    if (SHARED / "models" / "taef2").is_dir():
        return SHARED / "models"
    return None


@pytest.fixture(scope="session")
def shared_models() -> Path:
    found = models_dir()
    if found is None or not (found / "taef2" / "taef2_encoder.pth").is_file():
        pytest.skip("real TAEF2 weights not available (set STYLECLOAK_MODELS_DIR)")
    return found


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per test run, so style features are computed once."""
    return tmp_path_factory.mktemp("stylecloak-cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> None:
    """No test reads the developer's own STYLECLOAK_* settings or writes to their cache."""
    for key in list(os.environ):
        if key.startswith("STYLECLOAK_") and key != "STYLECLOAK_MODELS_DIR":
            monkeypatch.delenv(key)
    monkeypatch.setenv("STYLECLOAK_CACHE_DIR", str(session_cache))
    found = models_dir()
    if found is not None:
        monkeypatch.setenv("STYLECLOAK_MODELS_DIR", str(found))


def painting(width: int = 160, height: int = 128, seed: int = 0) -> np.ndarray:
    """A deterministic, textured RGB test image (uint8, H×W×3): smooth gradients plus strokes."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            0.5 + 0.4 * np.sin(xs / 17 + seed),
            0.5 + 0.4 * np.cos(ys / 13),
            0.5 + 0.4 * np.sin((xs + ys) / 23),
        ],
        axis=2,
    )
    texture = rng.normal(0, 0.06, (height, width, 3))
    return (np.clip(base + texture, 0, 1) * 255).astype(np.uint8)


def encoded(array: np.ndarray, fmt: str = "PNG", mode: str | None = None, **options: object) -> bytes:
    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def png_bytes() -> bytes:
    return encoded(painting())


@pytest.fixture
def jpeg_bytes() -> bytes:
    return encoded(painting(), "JPEG", quality=92)


#: Quick real cloaks: few steps, small working grid and mimic views, SSIM budget, and the seeded target
#: rule (the reachable rule's trial cloaks were 7 of a test cloak's 8 s; tests/sdk/test_reach.py runs them).
FAST = {
    "target_choice": "seeded",
    "quality": "fast",
    "working_resolution": 128,
    "render_cap": 128,
    "mimic_resolutions": [128, 192],
    "budget": "ssim",
}


def fast_env(models_dir: Path | str | None = None, cache_dir: Path | str | None = None) -> dict[str, str]:
    """:data:`FAST` as ``STYLECLOAK_*`` variables, for a process configured from its environment."""
    env = {f"STYLECLOAK_{key.upper()}": json.dumps(value) if isinstance(value, list) else str(value)
           for key, value in FAST.items()}  # fmt: skip
    if models_dir is not None:
        env["STYLECLOAK_MODELS_DIR"] = str(models_dir)
    if cache_dir is not None:
        env["STYLECLOAK_CACHE_DIR"] = str(cache_dir)
    return env


@pytest.fixture(scope="session")
def fast_settings(shared_models: Path, session_cache: Path):  # type: ignore[no-untyped-def]
    """Settings for quick real cloaks (:data:`FAST`)."""
    from stylecloak.settings import Settings

    return Settings(models_dir=shared_models, cache_dir=session_cache, **FAST)


@pytest.fixture(scope="session")
def cloaker(fast_settings):  # type: ignore[no-untyped-def]
    from stylecloak.engine.cloaker import Cloaker

    return Cloaker(fast_settings)
