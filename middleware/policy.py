"""What the upload middleware protects, and what it does when protection fails.

One frozen :class:`UploadPolicy` serves every shell (WSGI, ASGI, Django, Flask); each framework maps
its own configuration onto it (:func:`policy_from_mapping` takes ``STYLECLOAK_*``-style keys).

    >>> UploadPolicy(routes=("/upload*",), fields=("artwork",), on_failure="fail_open")  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from stylecloak.bounds import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IMAGES,
    DEFAULT_MAX_PARTS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_UPLOAD_MAX_BYTES,
)
from stylecloak.errors import ConfigurationError
from stylecloak.options import CloakOptions, validation_summary

Mode = Literal["sync", "deferred"]
Failure = Literal["fail_closed", "fail_open"]

#: Formats the engine cloaks, sniffed from the bytes (never from the filename or declared type).
DEFAULT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "AVIF")
#: Every method: a framework parses a multipart body whatever the method (Werkzeug does for GET too),
#: so a site that narrows this must be sure its views read files only for the methods it lists.
DEFAULT_METHODS: tuple[str, ...] = ("*",)
DEFAULT_MAX_BYTES = DEFAULT_UPLOAD_MAX_BYTES
#: Uploads this process protects at once (cloaking, or waiting for the engine); beyond: 503 at once.
DEFAULT_MAX_CONCURRENT = 4
#: Seconds a client is told to wait (Retry-After) when a fail-closed request is refused for overload.
DEFAULT_RETRY_AFTER_S = 30
#: The request header a client sends to skip the cloak, honoured only when the policy allows it.
OPT_OUT_HEADER = "X-Stylecloak-Opt-Out"


class UploadPolicy(BaseModel):
    """Which uploads are cloaked, within which limits, and how failures are handled."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    routes: tuple[str, ...] = Field(default=("*",), description="Path patterns (fnmatch) that are covered.")
    exclude_routes: tuple[str, ...] = Field(default=(), description="Path patterns never covered.")
    methods: tuple[str, ...] = Field(
        default=DEFAULT_METHODS, description="HTTP methods that are covered (case-insensitive); * for every method."
    )
    fields: tuple[str, ...] = Field(
        default=(),
        description="Form fields covered; empty means every file field. A named field is strict: a file "
        "in it that is not an accepted image is refused (415).",
    )
    formats: tuple[str, ...] = Field(default=DEFAULT_FORMATS, description="Image formats cloaked (sniffed).")
    reject_other_images: bool = Field(
        default=True,
        description="An image in a format not in `formats` (BMP, HEIC…) is refused (415) rather than stored "
        "unprotected.",
    )
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0, description="Largest image part (bytes) → 413.")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, gt=0, description="Largest image width × height → 413.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, gt=0, description="Largest multipart body the middleware reads → 413."
    )
    max_images: int = Field(default=DEFAULT_MAX_IMAGES, gt=0, description="Most image parts in one request → 413.")
    max_parts: int = Field(
        default=DEFAULT_MAX_PARTS, gt=0, description="Most parts (fields and files) in one multipart body → 413."
    )
    max_concurrent: int = Field(
        default=DEFAULT_MAX_CONCURRENT,
        gt=0,
        description="Uploads this process protects at once; one more is refused at once (503 + Retry-After), or "
        "passed unprotected with fail_open, instead of queueing without bound.",
    )
    mode: Mode = Field(default="sync", description="sync: cloak before the view; deferred: hand to `defer`.")
    on_failure: Failure = Field(
        default="fail_closed",
        description="When the cloak backend fails: refuse the request (503), or pass the original flagged unprotected.",
    )
    artist_id: Callable[[Any], str | None] | None = Field(
        default=None,
        description="Called with the framework's request (WSGI environ, ASGI scope, Django or Flask request); "
        "returns the artist id that keeps one target style per artist. None uses the shell's default.",
    )
    defer: Callable[[Any], None] | None = Field(
        default=None, description="Deferred mode: receives each DeferredUpload (e.g. a BackgroundCloaker)."
    )
    on_unprotected: Callable[[Any], None] | None = Field(
        default=None, description="Fail-open hook: receives a DeferredUpload of each original passed unprotected."
    )
    allow_opt_out: bool = Field(default=False, description=f"Honour the {OPT_OUT_HEADER}: 1 request header.")
    cloak_options: CloakOptions = Field(
        default_factory=CloakOptions,
        description="Options of every cloak (intensity, quality, steps, target_style…), validated when the policy "
        "is built: a wrong one is a configuration error at start-up.",
    )
    rights: Any = Field(
        default=True,
        description="True: write the default RightsPolicy's do-not-train signals; False: none; or a RightsPolicy.",
    )
    rights_headers: bool = Field(
        default=False,
        description="Add the rights HTTP headers (X-Robots-Tag, TDMRep) to image responses to GET and HEAD, for "
        "sites that serve images through the app rather than a CDN.",
    )
    retry_after_s: int = Field(default=DEFAULT_RETRY_AFTER_S, ge=0)

    @field_validator("cloak_options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "rights" in value:
            raise ValueError("rights are set with the policy's own `rights` field, not in cloak_options")
        return value

    @field_validator("methods", "formats")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item.upper() for item in value)

    @field_validator("routes", "exclude_routes", "methods", "fields", "formats", mode="before")
    @classmethod
    def _sequence(cls, value: Any) -> Any:
        # A single string from a settings file means one item, not a tuple of characters.
        return (value,) if isinstance(value, str) else value

    def covers(self, method: str, path: str) -> bool:
        """Whether a request with this method and path has its uploads inspected."""
        if "*" not in self.methods and method.upper() not in self.methods:
            return False
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in self.exclude_routes):
            return False
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.routes)

    def covers_field(self, name: str) -> bool:
        return not self.fields or name in self.fields

    def strict_field(self, name: str) -> bool:
        """A field the site named explicitly: it must hold an accepted image (or nothing)."""
        return name in self.fields

    def replace(self, **changes: Any) -> UploadPolicy:
        """A validated copy with ``changes`` applied."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        try:
            return type(self).model_validate(data)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid upload policy: {validation_summary(exc)}") from exc


def policy_from_mapping(
    values: Mapping[str, Any], *, prefix: str = "STYLECLOAK_", base: UploadPolicy | None = None
) -> UploadPolicy:
    """A policy from ``PREFIX_FIELD`` keys (Django settings, Flask config); other keys are ignored.

    ``STYLECLOAK_FIELDS = ["artwork"]`` sets ``fields``; a string value for a callable field is taken as
    a dotted import path (``"myapp.auth.artist_of"``).
    """
    changes: dict[str, Any] = {}
    for name in UploadPolicy.model_fields:
        key = prefix + name.upper()
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, str) and name in _CALLABLE_FIELDS:
            value = import_string(value)
        changes[name] = value
    base = base or UploadPolicy()
    return base.replace(**changes) if changes else base


def policy_from_env(environ: Mapping[str, str] | None = None) -> UploadPolicy:
    """A policy from ``STYLECLOAK_*`` environment variables (lists as JSON or comma-separated)."""
    values: dict[str, Any] = {}
    for key, raw in (os.environ if environ is None else environ).items():
        if not key.startswith("STYLECLOAK_"):
            continue
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw.split(",") if key[11:].lower() in _LIST_FIELDS and "," in raw else raw
    return policy_from_mapping(values)


_LIST_FIELDS = {"routes", "exclude_routes", "methods", "fields", "formats"}


_CALLABLE_FIELDS = {"artist_id", "defer", "on_unprotected"}


def import_string(path: str) -> Any:
    """``package.module.attribute`` (or ``package.module:attribute``) → the attribute."""
    module, _, attribute = path.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"cannot import {path!r}: {exc}") from exc
