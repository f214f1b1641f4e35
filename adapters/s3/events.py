"""S3 event notifications, parsed from every envelope they arrive in.

S3 sends ``{"Records": [...]}`` with URL-encoded keys (``incoming/a+b%C3%A9.png``). The same payload
reaches us as an SQS message body, inside an SNS notification (``{"Type": "Notification",
"Message": "<json>"}``), or as a Lambda event whose records are S3, SQS or SNS records. The
``s3:TestEvent`` that S3 sends when notifications are configured carries no object and yields nothing.

Nothing here talks to AWS or imports boto3. Anything we cannot read raises
:class:`MalformedEventError`, which the worker and the Lambda handler dead-letter with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from stylecloak.errors import MalformedEventError

TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One S3 record: which object, which change, and the identity of the version it is about."""

    event_name: str
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: str | None = None
    region: str | None = None
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def created(self) -> bool:
        return self.event_name.removeprefix("s3:").startswith("ObjectCreated:")

    @property
    def identity(self) -> str:
        """What idempotency is keyed on: bucket, key and the version (or, unversioned, the ETag)."""
        return f"{self.bucket}/{self.key}@{self.version_id or self.etag or '?'}"

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary, for logs and dead-letter entries."""
        return {
            "event": self.event_name,
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
        }


def clean_etag(value: object) -> str | None:
    """ETags come quoted from HEAD/GET and bare in events; compare them bare."""
    if not isinstance(value, str) or not value:
        return None
    return value.strip('"')


def load_json(body: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if not isinstance(body, str | bytes):  # a Lambda invoked by hand with a list, a number, null
        raise MalformedEventError("the event is not a JSON object", detail=_preview(body))
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEventError("the message body is not JSON", detail=_preview(body)) from exc
    if not isinstance(payload, dict):
        raise MalformedEventError("the message body is not a JSON object", detail=_preview(body))
    return payload


def parse_message(body: str | bytes | Mapping[str, Any]) -> list[ObjectEvent]:
    """Every S3 object record in ``body`` (an S3, SQS, SNS or Lambda payload); [] for a test event."""
    payload = load_json(body)
    if payload.get("Event") == TEST_EVENT:
        return []
    if payload.get("Type") == "Notification" and "Message" in payload:  # SNS envelope (not raw delivery)
        message = payload["Message"]
        if not isinstance(message, str):
            raise MalformedEventError("the SNS notification's Message is not a string")
        return parse_message(message)
    records = payload.get("Records")
    if not isinstance(records, list):
        raise MalformedEventError("no Records in the message", detail=_preview(payload))
    events: list[ObjectEvent] = []
    for record in records:
        events.extend(parse_record(record))
    return events


def parse_record(record: object) -> list[ObjectEvent]:
    """One entry of ``Records``: an S3 record, or an SQS/SNS record that wraps S3 records."""
    if not isinstance(record, Mapping):
        raise MalformedEventError("a record is not a JSON object", detail=_preview(record))
    source = record.get("eventSource") or record.get("EventSource")
    if source == "aws:sqs":
        return parse_message(_str_field(record, "body"))
    if source == "aws:sns":
        sns = record.get("Sns")
        if not isinstance(sns, Mapping):
            raise MalformedEventError("an SNS record without Sns")
        return parse_message(_str_field(sns, "Message"))
    return [parse_s3_record(record)]


def parse_s3_record(record: Mapping[str, Any]) -> ObjectEvent:
    event_name = record.get("eventName")
    s3 = record.get("s3")
    if not isinstance(event_name, str) or not isinstance(s3, Mapping):
        raise MalformedEventError("an S3 record needs eventName and s3", detail=_preview(record))
    bucket = s3.get("bucket")
    obj = s3.get("object")
    if not isinstance(bucket, Mapping) or not isinstance(obj, Mapping):
        raise MalformedEventError("an S3 record needs s3.bucket and s3.object", detail=_preview(record))
    name = bucket.get("name")
    raw_key = obj.get("key")
    if not isinstance(name, str) or not name or not isinstance(raw_key, str) or not raw_key:
        raise MalformedEventError("an S3 record needs a bucket name and an object key", detail=_preview(record))
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise MalformedEventError(f"an S3 record with a bad size: {size!r}")
    return ObjectEvent(
        event_name=event_name.removeprefix("s3:"),
        bucket=name,
        # S3 URL-encodes keys as a form value: spaces are '+', a literal '+' is '%2B'.
        key=unquote_plus(raw_key),
        size=size,
        etag=clean_etag(obj.get("eTag")),
        version_id=_optional_str(obj.get("versionId")),
        sequencer=_optional_str(obj.get("sequencer")),
        event_time=_optional_str(record.get("eventTime")),
        region=_optional_str(record.get("awsRegion")),
        record=record,
    )


def _str_field(mapping: Mapping[str, Any], name: str) -> str:
    value = mapping.get(name)
    if not isinstance(value, str):
        raise MalformedEventError(f"a record without a string {name}")
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value and value != "null" else None


def _preview(value: object, limit: int = 300) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"
