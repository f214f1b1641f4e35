"""A ``STORAGES`` backend that cloaks image files on save, wrapping any other storage.

For sites that prefer the storage layer to the request layer (files saved by management commands,
admin actions, or code that builds files itself):

    STORAGES = {
        "default": {
            "BACKEND": "stylecloak.adapters.django.CloakingStorage",
            "OPTIONS": {
                "storage": "django.core.files.storage.FileSystemStorage",
                "storage_options": {"location": MEDIA_ROOT},
                "policy": {"on_failure": "fail_open"},        # UploadPolicy fields (optional)
            },
        },
        ...
    }

The policy's image rules (formats, limits, failure policy, rights, cloak options) come from the
``STYLECLOAK_*`` settings with ``policy`` on top; routes and fields do not apply here. Non-images and
already cloaked files (for instance those the middleware cloaked) are saved unchanged. The artist id is
the one the middleware resolved for the current request, if any. Refusals are raised from ``save()``
as :mod:`stylecloak.errors` exceptions: storage has no response to send.
"""

from __future__ import annotations

import logging
import os
from typing import IO, Any

from stylecloak.errors import MissingExtraError
from stylecloak.middleware.core import Upload, UploadProtector
from stylecloak.middleware.policy import import_string
from stylecloak.middleware.sniff import SNIFF_BYTES

try:
    from django.core.files.base import ContentFile, File
    from django.core.files.storage import Storage
    from django.utils.deconstruct import deconstructible
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    raise MissingExtraError("django", "django") from exc

from stylecloak.adapters.django.conf import client_from_settings, policy_from_settings
from stylecloak.adapters.django.middleware import current_artist

log = logging.getLogger("stylecloak.middleware")

DEFAULT_STORAGE = "django.core.files.storage.FileSystemStorage"


@deconstructible(path="stylecloak.adapters.django.CloakingStorage")
class CloakingStorage(Storage):  # type: ignore[misc]  # Django ships no type hints
    """Delegates everything to ``storage``; cloaks images on their way into it."""

    def __init__(
        self,
        storage: str | Storage = DEFAULT_STORAGE,
        storage_options: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        self.storage: Storage = (
            import_string(storage)(**(storage_options or {})) if isinstance(storage, str) else storage
        )
        self.protector = UploadProtector(
            policy_from_settings(**{"fields": (), **(policy or {})}),
            client=client if client is not None else client_from_settings(),
        )

    def save(self, name: str | None, content: IO[bytes] | File, max_length: int | None = None) -> str:
        if name is None:
            name = getattr(content, "name", None) or "upload"
        if not isinstance(content, File):
            content = File(content, name)
        head = _read_head(content)
        protector = self.protector
        if protector.admit("", name, head):
            protector.check_size(content.size or 0, name)
            content.seek(0)
            upload = Upload(content.read(), os.path.basename(name), getattr(content, "content_type", "") or "", "")
            outcome = protector.protect(upload, artist_id=current_artist.get())
            log.info("storage save of %r: %s", name, outcome.header_value())
            if outcome.status == "cloaked":
                content = ContentFile(outcome.upload.data, name=os.path.basename(name))
            else:
                content.seek(0)
        return self.storage.save(name, content, max_length=max_length)

    # Everything else is the wrapped storage's.

    def _open(self, name: str, mode: str = "rb") -> File:
        return self.storage.open(name, mode)

    def _save(self, name: str, content: File) -> str:
        return self.save(name, content)

    def get_valid_name(self, name: str) -> str:
        return self.storage.get_valid_name(name)

    def get_alternative_name(self, file_root: str, file_ext: str) -> str:
        return self.storage.get_alternative_name(file_root, file_ext)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self.storage.get_available_name(name, max_length=max_length)

    def generate_filename(self, filename: str) -> str:
        return self.storage.generate_filename(filename)

    def path(self, name: str) -> str:
        return self.storage.path(name)

    def delete(self, name: str) -> None:
        self.storage.delete(name)

    def exists(self, name: str) -> bool:
        return self.storage.exists(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self.storage.listdir(path)

    def size(self, name: str) -> int:
        return self.storage.size(name)

    def url(self, name: str | None) -> str:
        return self.storage.url(name)

    def get_accessed_time(self, name: str) -> Any:
        return self.storage.get_accessed_time(name)

    def get_created_time(self, name: str) -> Any:
        return self.storage.get_created_time(name)

    def get_modified_time(self, name: str) -> Any:
        return self.storage.get_modified_time(name)


def _read_head(content: File) -> bytes:
    if hasattr(content, "seek"):
        content.seek(0)
    head = content.read(SNIFF_BYTES)
    content.seek(0)
    return head if isinstance(head, bytes) else b""
