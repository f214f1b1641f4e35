"""The framework-neutral core: one upload in, the upload the application should see out.

Every shell (WSGI, ASGI, Django, Flask, the storage wrapper) turns its framework's file into an
:class:`Upload` and calls :meth:`UploadProtector.protect`, which returns an :class:`Outcome` (cloaked,
already cloaked, skipped, pending, opted out or unprotected) or raises a :mod:`stylecloak.errors`
error whose ``status`` the shell sends back. The shells never decide policy themselves.

Errors raised here, beyond the image errors of :mod:`stylecloak.errors`:

    StylecloakError
    ├── UploadTooLargeError          the body or the number of images is over the policy's limits (413)
    ├── MalformedUploadError         a multipart body we cannot read reliably (400)
    └── ProtectionUnavailableError   fail-closed and the cloak backend failed (503, Retry-After)
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

from PIL import Image
from stylecloak import marker
from stylecloak._version import __version__
from stylecloak.errors import (
    AlreadyCloakedError,
    ConfigurationError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    OverloadedError,
    ProtectionUnavailableError,
    StylecloakError,
    UnsupportedImageError,
    UploadTooLargeError,
)
from stylecloak.middleware.policy import UploadPolicy
from stylecloak.middleware.sniff import sniff
from stylecloak.options import CloakOptions
from stylecloak.result import CloakReport

log = logging.getLogger("stylecloak.middleware")

Status = Literal["cloaked", "already_cloaked", "pending", "unprotected", "opted_out", "skipped", "ignored"]

#: Header on responses (and on rewritten multipart parts) that says what was done to the uploads.
HEADER = "X-Stylecloak"
# Worst first: the response header names the least protected outcome of the request.
_SEVERITY: tuple[Status, ...] = ("unprotected", "opted_out", "pending", "skipped", "cloaked", "already_cloaked")


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file, framework-neutral."""

    data: bytes
    filename: str
    content_type: str
    field_name: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one upload; ``upload`` is what the application receives."""

    status: Status
    upload: Upload
    original: Upload
    format: str | None = None
    report: CloakReport | None = None
    reason: str = ""
    ticket: str | None = None

    @property
    def protected(self) -> bool:
        return self.status in ("cloaked", "already_cloaked")

    def header_value(self) -> str:
        """``X-Stylecloak`` value for this part: ``cloaked; v=0.1.0; style=mosaic`` and the like."""
        parts = [self.status, f"v={__version__}"]
        if self.report is not None:
            # Percent-encoded: a style named after a reference file ("ref:水墨") must stay one latin-1 line.
            parts.append(f"style={quote(self.report.target_style, safe=':-_.+')}")
        if self.ticket:
            parts.append(f"ticket={self.ticket}")
        if self.reason:
            parts.append(f"reason={self.reason}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class DeferredUpload:
    """An original handed to a queue: deferred mode, or fail-open's later re-cloak."""

    ticket: str
    upload: Upload
    artist_id: str | None
    options: CloakOptions = field(default_factory=CloakOptions)
    #: The RightsPolicy to write (the policy's), or None.
    rights: Any = None

    def cloak(self, client: Any) -> Any:
        """Cloak this upload with ``client`` as the middleware would have."""
        return client.cloak(self.upload.data, artist_id=self.artist_id, options=self.options, rights=self.rights)


def summary_header(outcomes: Sequence[Outcome]) -> str | None:
    """The response's ``X-Stylecloak`` value: the least protected status first, then counts."""
    if not outcomes:
        return None
    counts: Counter[str] = Counter(outcome.status for outcome in outcomes if outcome.status != "ignored")
    if not counts:
        return None
    worst = next(status for status in _SEVERITY if counts[status])
    tallies = [f"{status}={counts[status]}" for status in _SEVERITY if counts[status]]
    return "; ".join([worst, f"v={__version__}", *tallies])


class UploadProtector:
    """Applies an :class:`UploadPolicy` to uploads through a :class:`stylecloak.client.Client`.

    ``client`` defaults to ``Client()`` (``STYLECLOAK_*`` environment settings), built on first use so
    that constructing middleware never loads the engine.
    """

    def __init__(self, policy: UploadPolicy | None = None, *, client: Any = None) -> None:
        self.policy = policy or UploadPolicy()
        self._client = client
        self._lock = threading.Lock()
        self._rights: Any = _UNSET
        # Bounds the memory and CPU one process spends on uploads: beyond it, refuse at once.
        self._slots = threading.BoundedSemaphore(self.policy.max_concurrent)

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from stylecloak.client import Client

                    self._client = Client()
        return self._client

    @property
    def rights(self) -> Any:
        """The RightsPolicy written into each cloak, or None when rights are off."""
        if self._rights is _UNSET:
            self._rights = resolve_rights(self.policy.rights)
        return self._rights

    # ------------------------------------------------------------------ deciding what to inspect

    def admit(self, field_name: str, filename: str | None, head: bytes) -> bool:
        """Whether a file part must be buffered and protected, from its first bytes.

        False for parts that pass through untouched (not a covered field, not an image);
        raises for a file that is not an image in a field the site named as an image field. A plain
        field (no filename) that starts like an image in a cloaked format is protected too: Starlette
        hands fields over decoded as latin-1, from which a view could store the image as it was.
        """
        if not self.policy.covers_field(field_name):
            return False
        kind = sniff(head)
        if filename is None:
            return kind in self.policy.formats
        if kind is not None:
            return True
        if head and self.policy.strict_field(field_name):
            accepted = ", ".join(self.policy.formats)
            raise UnsupportedImageError(
                f"“{filename or 'the upload'}” is not an image (field “{field_name}” takes {accepted})"
            )
        return False

    def check_count(self, count: int) -> None:
        if count > self.policy.max_images:
            raise UploadTooLargeError(f"{count} images in one request; the limit is {self.policy.max_images}")

    def check_size(self, size: int, filename: str) -> None:
        if size > self.policy.max_bytes:
            raise ImageTooLargeError(f"{filename!r} is {size} bytes; the limit is {self.policy.max_bytes}")

    # ------------------------------------------------------------------ the one upload

    def protect(self, upload: Upload, *, artist_id: str | None = None, opted_out: bool = False) -> Outcome:
        """Cloak ``upload`` by the policy, or say why not. Raises for input that must be refused."""
        policy = self.policy
        fmt = sniff(upload.data[:64])
        if fmt is None:
            # Not an image: untouched, unless the site named this field as an image field.
            self.admit(upload.field_name, upload.filename, upload.data[:64])
            return Outcome("ignored", upload, upload)
        if fmt not in policy.formats:
            if policy.reject_other_images:
                accepted = ", ".join(policy.formats)
                raise UnsupportedImageError(f"{fmt} images are not accepted here (accepted formats: {accepted})")
            return Outcome("skipped", upload, upload, fmt, reason="format")
        self.check_size(upload.size, upload.filename)
        found = self._inspect(upload)
        if not self._slots.acquire(blocking=False):
            busy = OverloadedError(f"{policy.max_concurrent} uploads are being protected already; retry shortly")
            return self._failed(upload, fmt, artist_id, busy)
        try:
            return self._protect(upload, fmt, artist_id, found, opted_out=opted_out and policy.allow_opt_out)
        finally:
            self._slots.release()

    def _protect(
        self, upload: Upload, fmt: str, artist_id: str | None, found: marker.MarkerCheck, *, opted_out: bool
    ) -> Outcome:
        if found.state == "verified":
            return Outcome("already_cloaked", upload, upload, fmt)
        note = "unverified_marker" if found.state == "unverified" else ""
        if opted_out:
            return Outcome("opted_out", upload, upload, fmt)
        if self.policy.mode == "deferred":
            return self._defer(upload, fmt, artist_id)
        try:
            result = self.client.cloak(
                upload.data, artist_id=artist_id, options=self.policy.cloak_options, rights=self.rights
            )
        except AlreadyCloakedError:
            return Outcome("already_cloaked", upload, upload, fmt)
        except ImageTooSmallError:
            # Thumbnails and icons carry no style worth stealing; they pass, flagged.
            return Outcome("skipped", upload, upload, fmt, reason="too_small")
        except ImageError:
            raise
        except Exception as exc:
            return self._failed(upload, fmt, artist_id, exc)
        cloaked = replace(upload, data=result.data, content_type=upload.content_type or result.content_type)
        return Outcome("cloaked", cloaked, upload, fmt, report=result.report, reason=note)

    def _inspect(self, upload: Upload) -> marker.MarkerCheck:
        """Open the container once, before any cloak: refuse it beyond the pixel limit (from its headers,
        nothing decoded), and read the marker it claims. A marker counts only when it verifies against
        the pixels (a platform key signs them; only then are they decoded); a forged or stale one is
        absent, and the outcome says it was there (reason=unverified_marker)."""
        # The client's key when it has settings (the engine behind it seals with them), else the env's.
        key = getattr(self.client, "settings", None)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(upload.data)) as image:
                    width, height = image.size
                    if width * height > self.policy.max_pixels:
                        raise ImageTooLargeError(
                            f"{upload.filename!r} is {width}×{height} pixels; the limit is {self.policy.max_pixels}"
                        )
                    return marker.check(image, key=key, data=upload.data)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageTooLargeError(f"{upload.filename!r} is refused as a decompression bomb") from exc
        except ImageTooLargeError:
            raise
        except Exception:
            return marker.MarkerCheck("absent")  # unreadable headers: the engine reports the precise image error

    def _job(self, upload: Upload, artist_id: str | None) -> DeferredUpload:
        return DeferredUpload(uuid.uuid4().hex, upload, artist_id, self.policy.cloak_options, self.rights)

    def _defer(self, upload: Upload, fmt: str, artist_id: str | None) -> Outcome:
        defer = self.policy.defer
        if defer is None:
            raise ProtectionUnavailableError("deferred mode needs a `defer` callable (e.g. a BackgroundCloaker)")
        job = self._job(upload, artist_id)
        try:
            defer(job)
        except Exception as exc:
            return self._failed(upload, fmt, artist_id, exc)
        return Outcome("pending", upload, upload, fmt, ticket=job.ticket)

    def _failed(self, upload: Upload, fmt: str, artist_id: str | None, exc: Exception) -> Outcome:
        reason = exc.code if isinstance(exc, StylecloakError) else "internal_error"
        if isinstance(exc, ConfigurationError):
            # The site's own setup is wrong: every upload would pass unprotected under fail_open.
            log.error("cloak misconfigured (%s); refusing the upload whatever on_failure says", exc)
            raise ProtectionUnavailableError(
                "the upload could not be protected: the site's stylecloak configuration is wrong", detail=reason
            ) from exc
        if self.policy.on_failure == "fail_closed":
            log.warning("cloak failed for %r (%s); refusing the upload (fail_closed)", upload.filename, exc)
            raise ProtectionUnavailableError(
                "the upload could not be protected right now; nothing was stored, please try again",
                detail=reason,
            ) from exc
        log.warning("cloak failed for %r (%s); passing it unprotected (fail_open)", upload.filename, exc)
        job = self._job(upload, artist_id)
        if self.policy.on_unprotected is not None:
            try:
                self.policy.on_unprotected(job)
            except Exception:
                log.exception("the on_unprotected hook failed for %r", upload.filename)
        return Outcome("unprotected", upload, upload, fmt, reason=reason, ticket=job.ticket)


_UNSET: Any = object()


def resolve_rights(setting: Any) -> Any:
    """The policy's ``rights`` setting as a RightsPolicy (or None when off).

    True means the default reservation, with ``STYLECLOAK_RIGHTS_*`` environment variables on top
    (signing credentials, a TDMRep policy URL…); a mapping is read as RightsPolicy fields.
    """
    if setting is False or setting is None:
        return None
    try:
        from stylecloak.rights import RightsPolicy
    except ImportError:
        log.warning("stylecloak.rights is not available; uploads are cloaked without rights signals")
        return None
    if setting is True:
        return RightsPolicy.from_env()
    if isinstance(setting, Mapping):
        return RightsPolicy.from_mapping(setting)
    return setting


def rights_headers(rights: Any) -> list[tuple[str, str]]:
    """The HTTP headers (X-Robots-Tag, TDMRep) that go with images protected under ``rights``."""
    if rights is None:
        return []
    try:
        from stylecloak.rights import http_headers
    except ImportError:
        return []
    return list(http_headers(rights).items())
