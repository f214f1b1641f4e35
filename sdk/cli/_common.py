"""Helpers shared by the commands: settings from flags, and printing JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stylecloak.settings import Settings, get_settings


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Environment settings with the values of any flags that were given on top."""
    overrides = {key: value for key, value in extra.items() if value is not None}
    return get_settings(**overrides)


def print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
