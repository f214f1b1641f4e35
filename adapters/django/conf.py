"""Django settings → the upload policy and the SDK client: the one place ``STYLECLOAK_*`` is read.

Two families share the prefix, with the same meaning everywhere:

* policy fields (:class:`~stylecloak.middleware.policy.UploadPolicy`): ``STYLECLOAK_ROUTES``,
  ``STYLECLOAK_FIELDS``, ``STYLECLOAK_MODE``, ``STYLECLOAK_ON_FAILURE``, ``STYLECLOAK_ARTIST_ID``…
* SDK settings (:class:`~stylecloak.settings.Settings`): ``STYLECLOAK_BACKEND``,
  ``STYLECLOAK_ENDPOINT``, ``STYLECLOAK_INTENSITY``, ``STYLECLOAK_QUALITY``…, on top of the
  environment's. ``STYLECLOAK_MAX_BYTES`` and ``STYLECLOAK_MAX_PIXELS`` belong to both.

Plus ``STYLECLOAK_CLIENT`` (a client, or a dotted path to one or to a factory) and
``STYLECLOAK_ERROR_TEMPLATE`` (a template for refusals shown to browsers).
"""

from __future__ import annotations

from typing import Any

from stylecloak.errors import MissingExtraError
from stylecloak.middleware.policy import UploadPolicy, import_string, policy_from_mapping
from stylecloak.settings import Settings

try:
    from django.conf import settings as django_settings
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    raise MissingExtraError("django", "django") from exc

PREFIX = "STYLECLOAK_"


def stylecloak_settings(conf: Any = None) -> dict[str, Any]:
    """Every ``STYLECLOAK_*`` setting Django knows, by name."""
    conf = django_settings if conf is None else conf
    return {name: getattr(conf, name) for name in dir(conf) if name.startswith(PREFIX)}


def policy_from_settings(conf: Any = None, **changes: Any) -> UploadPolicy:
    policy = policy_from_mapping(stylecloak_settings(conf))
    return policy.replace(**changes) if changes else policy


def client_from_settings(conf: Any = None) -> Any:
    """``STYLECLOAK_CLIENT`` if set, else a ``Client`` with the SDK's ``STYLECLOAK_*`` overrides."""
    values = stylecloak_settings(conf)
    client = values.get(PREFIX + "CLIENT")
    if isinstance(client, str):
        client = import_string(client)
    if isinstance(client, type) or (callable(client) and not hasattr(client, "cloak")):
        client = client()  # a class or a factory
    if client is not None:
        return client
    from stylecloak.client import Client

    overrides = {
        name: values[PREFIX + name.upper()] for name in Settings.model_fields if PREFIX + name.upper() in values
    }
    return Client(**overrides)


def error_template(conf: Any = None) -> str | None:
    value = stylecloak_settings(conf).get(PREFIX + "ERROR_TEMPLATE")
    return str(value) if value else None
