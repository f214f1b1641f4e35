"""Parsing S3 notifications in every envelope: S3, SQS body, SNS, Lambda records; malformed ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("boto3")

from stylecloak.adapters.s3.events import MalformedEventError, parse_message


def aws_record(key: str = "incoming/a+b%C3%A9.png", **object_fields: Any) -> dict[str, Any]:
    """A record as AWS documents it (event structure version 2.1)."""
    obj = {"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"}
    obj.update(object_fields)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2026-11-28T12:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "art", "arn": "arn:aws:s3:::art"}, "object": obj},
    }


def test_aws_record_with_version_and_sequencer() -> None:
    [event] = parse_message({"Records": [aws_record(versionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")]})
    assert (event.bucket, event.key, event.size) == ("art", "incoming/a bé.png", 1024)
    assert event.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert event.version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert event.sequencer == "0055AED6DCD90281E5"
    assert event.created and event.region == "eu-west-1"
    assert event.identity == "art/incoming/a bé.png@3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"


def test_keys_are_decoded_like_form_values() -> None:
    # moto encodes '/' too; a literal '+' arrives as %2B; spaces as '+'.
    [event] = parse_message({"Records": [aws_record("incoming%2Fsub%2Fc%2B%2B+notes+%E6%97%A5.png")]})
    assert event.key == "incoming/sub/c++ notes 日.png"
    assert event.version_id is None and event.identity.endswith("@d41d8cd98f00b204e9800998ecf8427e")


def test_sqs_body_sns_envelope_and_lambda_records_give_the_same_event() -> None:
    s3_payload = {"Records": [aws_record()]}
    body = json.dumps(s3_payload)
    sns = json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:t", "Message": body})
    lambda_sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "1", "body": body}]}
    lambda_sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": body}}]}
    lambda_sqs_sns = {"Records": [{"eventSource": "aws:sqs", "messageId": "1", "body": sns}]}
    expected = parse_message(s3_payload)
    for payload in (body, body.encode(), sns, lambda_sqs, lambda_sns, lambda_sqs_sns):
        assert parse_message(payload) == expected


def test_test_event_and_other_event_kinds() -> None:
    assert parse_message('{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"art"}') == []
    removed = aws_record()
    removed["eventName"] = "ObjectRemoved:Delete"
    [event] = parse_message({"Records": [removed]})
    assert not event.created
    prefixed = aws_record()
    prefixed["eventName"] = "s3:ObjectCreated:CompleteMultipartUpload"
    assert parse_message({"Records": [prefixed]})[0].event_name == "ObjectCreated:CompleteMultipartUpload"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        "{}",
        '{"Records": {}}',
        '{"Records": [42]}',
        '{"Records": [{"eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k", '
        '"size": -1}}}]}',
        '{"Type": "Notification", "Message": {"Records": []}}',
        '{"Records": [{"eventSource": "aws:sqs", "body": 3}]}',
    ],
)
def test_malformed_messages_raise_a_typed_error(body: str | bytes) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_message(body)
    assert caught.value.code == "malformed_event" and caught.value.message
