"""An artwork: the cloaked image everyone sees, the private original only its owner sees, and the report."""

from __future__ import annotations

import functools
import os
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.urls import reverse

from artworks import imaging


@functools.cache
def private_storage() -> FileSystemStorage:
    """Originals and difference images: on disk outside MEDIA_ROOT, never given a public URL."""
    return FileSystemStorage(location=settings.PRIVATE_ROOT, base_url=None)


PROTECTED_STATUSES = {"cloaked", "already_cloaked"}


class Artwork(models.Model):
    class Protection(models.TextChoices):
        PROTECTED = "protected", "Protected"
        UNPROTECTED = "unprotected", "Not protected"
        PENDING = "pending", "Protection pending"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artworks")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    image = models.FileField(upload_to="artworks/%Y/%m/")
    original = models.FileField(upload_to="originals/%Y/%m/", storage=private_storage, blank=True)
    difference = models.FileField(upload_to="differences/%Y/%m/", storage=private_storage, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    protection = models.CharField(max_length=16, choices=Protection.choices, default=Protection.PENDING)
    report = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]  # noqa: RUF012

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("artwork", args=[self.pk])

    def record(self, cloaked: bytes, outcome: Any) -> None:
        """Note what stylecloak did (the middleware's Outcome) and keep the original privately."""
        self.width, self.height = imaging.size_of(cloaked)
        if outcome is None:  # the middleware did not look at this upload
            self.protection = self.Protection.UNPROTECTED
            return
        if outcome.status in PROTECTED_STATUSES:
            self.protection = self.Protection.PROTECTED
        elif outcome.status == "pending":
            self.protection = self.Protection.PENDING
        else:
            self.protection = self.Protection.UNPROTECTED
        report = outcome.report.model_dump(mode="json") if outcome.report else {}
        self.report = {**report, "status": outcome.status}
        name = os.path.basename(outcome.original.filename or "") or "artwork"
        self.original.save(name, ContentFile(outcome.original.data), save=False)
        if outcome.status == "cloaked":
            diff = imaging.difference(outcome.original.data, cloaked)
            self.difference.save(os.path.splitext(name)[0] + ".difference.png", ContentFile(diff), save=False)

    @property
    def protected(self) -> bool:
        return self.protection == self.Protection.PROTECTED

    @property
    def style_label(self) -> str:
        return str(self.report.get("target_style", "")).replace("_", " ")

    @property
    def rights_written(self) -> list[str]:
        """The do-not-train signals written into the file, in words."""
        written = (self.report.get("rights") or {}).get("written") or []
        names = {"xmp": "IPTC/PLUS metadata", "c2pa": "signed C2PA manifest"}
        return [names.get(item, item) for item in written]
