"""Cloak the object one S3 event is about, exactly once, without ever losing the original.

The order of the steps is what makes redelivery safe:

1. read the source's current identity (ETag, version) with HEAD; a missing source is skipped;
2. if the output already records that identity, it is up to date: nothing is redone;
3. read, check and cloak the bytes (a bad image is a dead letter with its reason);
4. write the output with a conditional PUT (``If-None-Match: *`` for a new output, ``If-Match`` to
   replace a stale one), so two workers racing on duplicate events write it once;
5. only then move the original to its archive (copy, verify, delete that exact version).

A crash between any two steps leaves a state that the next delivery finishes: the output is keyed
on the source's identity, the archive copy is repeated, and the original is deleted last. Transient
failures raise :class:`RetryLater`; the caller keeps the message and tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from stylecloak.adapters.s3.aws import client_errors, describe_error, is_not_found, is_precondition_failed
from stylecloak.adapters.s3.config import Route, S3Config
from stylecloak.adapters.s3.events import ObjectEvent, clean_etag
from stylecloak.errors import AlreadyCloakedError, ConfigurationError, ImageError, StylecloakError
from stylecloak.result import ProgressCallback

log = logging.getLogger(__name__)

# x-amz-meta-* keys written on every output.
MARKER_KEY = "stylecloak"
MARKER_VALUE = "cloaked"
SOURCE_ETAG_KEY = "stylecloak-source-etag"
SOURCE_VERSION_KEY = "stylecloak-source-version"
SETTINGS_KEY = "stylecloak-settings"
VERSION_KEY = "stylecloak-version"

Status = Literal["written", "skipped", "dead_letter"]


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What happened to one event. ``reason`` is a short code (``cloaked``, ``up_to_date``, …)."""

    status: Status
    reason: str
    event: ObjectEvent
    detail: str = ""
    output: str | None = None


class RetryLater(Exception):
    """A transient failure (S3 unavailable, a remote backend down): keep the message, try again."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Identity:
    etag: str
    version: str

    def recorded_by(self, head: dict[str, Any] | None) -> bool:
        """True when ``head`` (an output's HEAD) says it was made from this source version."""
        if head is None:
            return False
        meta = head.get("Metadata") or {}
        return bool(meta.get(SOURCE_ETAG_KEY) == self.etag and meta.get(SOURCE_VERSION_KEY, "") == self.version)


class Processor:
    """Turns one :class:`ObjectEvent` into an :class:`EventOutcome`, or raises :class:`RetryLater`."""

    def __init__(self, config: S3Config, client: Any, s3: Any) -> None:
        self.config = config
        self.client = client
        self.s3 = s3
        self._errors = client_errors()

    def process(self, event: ObjectEvent, *, progress: ProgressCallback | None = None) -> EventOutcome:
        if not event.created:
            return EventOutcome("skipped", "not_a_create", event, event.event_name)
        route = self.config.route_for(event.bucket, event.key)
        if route is None:
            return EventOutcome("skipped", "unrouted", event, "no route watches this key")
        out_bucket, out_key = route.destination.bucket, route.output_key(event.key)
        if self.config.watched(out_bucket, out_key):  # the config refuses this; never trust it blindly
            raise ConfigurationError(f"refusing to write s3://{out_bucket}/{out_key}: a watched key")
        output_url = f"s3://{out_bucket}/{out_key}"

        source = self._head(event.bucket, event.key)
        output = self._head(out_bucket, out_key)
        if source is None:
            # Deleted after the upload, or already moved to the archive by an earlier delivery.
            if output is not None and event.etag and (output.get("Metadata") or {}).get(SOURCE_ETAG_KEY) == event.etag:
                return EventOutcome("skipped", "already_done", event, "the original was archived", output_url)
            return EventOutcome("skipped", "source_missing", event, "the object no longer exists")
        identity = Identity(clean_etag(source.get("ETag")) or "", source.get("VersionId") or "")
        if identity.recorded_by(output):
            self._finish_original(route, event.bucket, event.key, source, identity)
            return EventOutcome("skipped", "up_to_date", event, "the output was made from this version", output_url)

        metadata: dict[str, str] = dict(source.get("Metadata") or {})
        size = int(source.get("ContentLength") or 0)
        if size == 0:
            return EventOutcome("dead_letter", "empty_object", event, "the object is empty")
        if size > route.max_bytes:
            return EventOutcome(
                "dead_letter", "image_too_large", event, f"{size} bytes > the route's {route.max_bytes}"
            )
        if not route.accepts_type(source.get("ContentType")):
            return EventOutcome(
                "dead_letter", "unsupported_content_type", event, f"Content-Type {source.get('ContentType')!r}"
            )
        data = self._get(event.bucket, event.key, identity)
        # The uploader controls the object's metadata (x-amz-meta-stylecloak) and can write any XMP,
        # so neither says "already cloaked": only a marker that verifies against the pixels under the
        # platform's key does, and the engine checks that (AlreadyCloakedError below).
        log.info("cloaking s3://%s/%s (%d bytes, %s)", event.bucket, event.key, size, identity.etag)
        try:
            result = self.client.cloak(
                data,
                artist_id=metadata.get(route.artist_metadata) or None,
                progress=progress,
                options=route.cloak_options(),
                rights=route.rights,
            )
        except AlreadyCloakedError:
            return self._already_cloaked(route, event, data, source, identity, output, output_url)
        except ImageError as exc:
            return EventOutcome("dead_letter", exc.code, event, exc.message)
        except StylecloakError as exc:
            raise RetryLater(exc.code, exc.message) from exc
        extra = {
            SETTINGS_KEY: result.report.settings_hash,
            VERSION_KEY: result.report.version,
        }
        written = self._put_output(
            route, event, out_bucket, out_key, result.data, result.content_type, source, identity, extra, output
        )
        if not written:
            return EventOutcome("skipped", "duplicate", event, "a concurrent delivery wrote the output", output_url)
        self._finish_original(route, event.bucket, event.key, source, identity)
        return EventOutcome("written", "cloaked", event, result.report.target_style, output_url)

    # ------------------------------------------------------------------ steps

    def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=bucket, Key=key)
        except self._errors as exc:
            if is_not_found(exc):
                return None
            raise RetryLater("s3_read_failed", f"HEAD s3://{bucket}/{key}: {describe_error(exc)}") from exc
        return head

    def _get(self, bucket: str, key: str, identity: Identity) -> bytes:
        # Pin the read to the version HEAD saw, so the output is recorded against the bytes it came from.
        pin = {"VersionId": identity.version} if identity.version else {"IfMatch": f'"{identity.etag}"'}
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, **pin)
            data: bytes = response["Body"].read()
        except self._errors as exc:
            if is_precondition_failed(exc) or is_not_found(exc):
                raise RetryLater("source_changed", f"s3://{bucket}/{key} changed while being read") from exc
            raise RetryLater("s3_read_failed", f"GET s3://{bucket}/{key}: {describe_error(exc)}") from exc
        return data

    def _tags(self, bucket: str, key: str, identity: Identity) -> str | None:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if identity.version:
            args["VersionId"] = identity.version
        try:
            tag_set = self.s3.get_object_tagging(**args).get("TagSet", [])
        except self._errors as exc:
            raise RetryLater("s3_read_failed", f"tags of s3://{bucket}/{key}: {describe_error(exc)}") from exc
        return urlencode([(tag["Key"], tag["Value"]) for tag in tag_set]) if tag_set else None

    def _put_output(
        self,
        route: Route,
        event: ObjectEvent,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        source: dict[str, Any],
        identity: Identity,
        extra: dict[str, str],
        previous: dict[str, Any] | None,
    ) -> bool:
        """Write the output; False when a racing delivery already wrote this same version."""
        metadata = dict(source.get("Metadata") or {}) if route.copy_metadata else {}
        metadata.update(extra)
        metadata.update(
            {MARKER_KEY: MARKER_VALUE, SOURCE_ETAG_KEY: identity.etag, SOURCE_VERSION_KEY: identity.version}
        )
        args: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
            "Metadata": metadata,
        }
        if route.cache_control:
            args["CacheControl"] = route.cache_control
        if route.copy_tags:
            tags = self._tags(event.bucket, event.key, identity)
            if tags:
                args["Tagging"] = tags
        if self.config.conditional_writes:
            if previous is None:
                args["IfNoneMatch"] = "*"
            else:
                args["IfMatch"] = previous["ETag"]
        try:
            self.s3.put_object(**args)
        except self._errors as exc:
            if is_precondition_failed(exc):
                if identity.recorded_by(self._head(bucket, key)):
                    return False
                raise RetryLater("output_changed", f"s3://{bucket}/{key} changed while being written") from exc
            raise RetryLater("s3_write_failed", f"PUT s3://{bucket}/{key}: {describe_error(exc)}") from exc
        log.info("wrote s3://%s/%s (%d bytes, source %s)", bucket, key, len(data), identity.etag)
        return True

    def _already_cloaked(
        self,
        route: Route,
        event: ObjectEvent,
        data: bytes,
        source: dict[str, Any],
        identity: Identity,
        output: dict[str, Any] | None,
        output_url: str,
    ) -> EventOutcome:
        if route.already_cloaked == "skip":
            return EventOutcome("skipped", "already_cloaked", event, "the upload carries a verified stylecloak marker")
        content_type = source.get("ContentType") or "application/octet-stream"
        bucket, key = route.destination.bucket, route.output_key(event.key)
        if not self._put_output(route, event, bucket, key, data, content_type, source, identity, {}, output):
            return EventOutcome("skipped", "duplicate", event, "a concurrent delivery wrote the output", output_url)
        self._finish_original(route, event.bucket, event.key, source, identity)
        return EventOutcome("written", "published", event, "already cloaked; copied as it is", output_url)

    def _finish_original(self, route: Route, bucket: str, key: str, source: dict[str, Any], identity: Identity) -> None:
        """Move the original to the archive (if the route says so): copy, verify, then delete."""
        if route.original != "archive" or route.archive is None:
            return
        archive_bucket, archive_key = route.archive.bucket, route.archive_key(key)
        copy_source: dict[str, str] = {"Bucket": bucket, "Key": key}
        if identity.version:
            copy_source["VersionId"] = identity.version
        try:
            self.s3.copy_object(
                Bucket=archive_bucket,
                Key=archive_key,
                CopySource=copy_source,
                CopySourceIfMatch=f'"{identity.etag}"',
                MetadataDirective="COPY",
                TaggingDirective="COPY",
            )
            copied = self.s3.head_object(Bucket=archive_bucket, Key=archive_key)
            if int(copied.get("ContentLength") or -1) != int(source.get("ContentLength") or -2):
                raise RetryLater("archive_failed", f"the archived copy of s3://{bucket}/{key} has the wrong size")
            if identity.version:
                # Exactly the version we copied: a newer upload under the same key is never touched.
                self.s3.delete_object(Bucket=bucket, Key=key, VersionId=identity.version)
            elif self.config.conditional_writes:
                # Deleted only if still the bytes we archived (S3 honours If-Match on DELETE since 2025).
                self.s3.delete_object(Bucket=bucket, Key=key, IfMatch=f'"{identity.etag}"')
            else:
                # Without conditional deletes a re-upload between this HEAD and the delete is lost;
                # versioned buckets (the branch above) or conditional writes close that window.
                current = self._head(bucket, key)
                if current is not None and clean_etag(current.get("ETag")) == identity.etag:
                    self.s3.delete_object(Bucket=bucket, Key=key)
        except self._errors as exc:
            if is_precondition_failed(exc) or is_not_found(exc):
                # Replaced or removed meanwhile: the newer upload has its own event; keep everything.
                log.warning("s3://%s/%s changed before it was archived; left in place", bucket, key)
                return
            raise RetryLater("archive_failed", f"archiving s3://{bucket}/{key}: {describe_error(exc)}") from exc
        log.info("archived s3://%s/%s → s3://%s/%s", bucket, key, archive_bucket, archive_key)
