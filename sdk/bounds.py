"""Bounds on every number a caller may choose for a cloak: finite, and inside what the engine can use.

One table for every door a number comes in by: the HTTP options (:class:`stylecloak.wire.CloakOptions`),
the command line, and :func:`stylecloak.engine.presets.resolve`, which every cloak goes through. A value
outside is a :class:`~stylecloak.errors.ConfigurationError` (400), never a NaN, an overflow or a
black image later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stylecloak.errors import ConfigurationError

#: Seeds numpy's and torch's generators both take.
MAX_SEED = 2**32 - 1
MAX_STEPS = 10_000
#: The budget weight α (the paper's is 30).
MAX_ALPHA = 10_000.0
#: Adam's step size on δ, whose entries never leave [-1, 1].
MAX_LR = 1.0
MAX_SIDE = 8192

# Default limits on what comes in, one table for every door (an upload's size is checked at each:
# the web middleware, the S3 worker, the Serve gateway, the engine).
#: Largest image accepted (width × height): 25 MP (5000 × 5000). One cloak of it peaks near 4 GiB on a
#: CPU (benchmarks/bench_largest.py), so four processes cloaking at once fit a 24 GiB machine.
DEFAULT_MAX_PIXELS = 25_000_000
#: Largest encoded image the engine, the Serve API and the S3 worker read.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Largest image part of a web upload: a web worker buffers it in memory.
DEFAULT_UPLOAD_MAX_BYTES = 32 * 1024 * 1024
#: Largest multipart body the web middleware reads.
DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024
#: Most image parts in one web request.
DEFAULT_MAX_IMAGES = 20
#: Most parts in one multipart body, as Werkzeug's (and so Flask's) default ``max_form_parts``.
DEFAULT_MAX_PARTS = 1000
#: Smallest side (px) worth cloaking: thumbnails and icons below it pass, flagged.
DEFAULT_MIN_SIDE = 64

#: name → (lowest, highest, whether the lowest itself is allowed). Integers and floats alike.
LIMITS: dict[str, tuple[float, float, bool]] = {
    "steps": (1, MAX_STEPS, True),
    "seed": (0, MAX_SEED, True),
    "linf": (0.0, 1.0, False),
    "budget_p": (0.0, 1.0, False),
    "alpha": (0.0, MAX_ALPHA, False),
    "lr": (0.0, MAX_LR, False),
    "working_resolution": (64, MAX_SIDE, True),
    "render_cap": (64, MAX_SIDE, True),
}
_INTEGERS = {"steps", "seed", "working_resolution", "render_cap"}


def check(values: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigurationError` naming the first value of ``values`` outside :data:`LIMITS`."""
    for name, value in values.items():
        if name not in LIMITS or value is None:
            continue
        low, high, inclusive = LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"{name} must be a number, not {value!r}")
        if name in _INTEGERS and not isinstance(value, int):
            raise ConfigurationError(f"{name} must be a whole number, not {value!r}")
        if not math.isfinite(value):
            raise ConfigurationError(f"{name} must be finite, not {value!r}")
        above = value >= low if inclusive else value > low
        if not above or value > high:
            bracket = "[" if inclusive else "("
            raise ConfigurationError(f"{name} must be in {bracket}{_text(low)}, {_text(high)}], not {value!r}")


def _text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
