"""The Lambda handler, fed the events Lambda would pass: SQS batches (partial failures), S3 and SNS records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from stylecloak.adapters.s3 import aws_lambda
from stylecloak.adapters.s3.aws_lambda import LambdaHandler
from stylecloak.adapters.s3.processor import RetryLater
from stylecloak.marker import is_cloaked

from tests.adapters.s3.harness import CREDENTIALS, REGION, Stack, clients
from tests.conftest import encoded, fast_env, painting


class Context:
    """What Lambda passes as ``context``: here only the remaining time matters."""

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_event(
    messages: list[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:q"
) -> dict[str, Any]:
    """The event of an SQS event source mapping, built from messages received over the real API."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def handler_for(stack: Stack, client: Any, config: Any = None, **kwargs: Any) -> LambdaHandler:
    s3, sqs = clients(stack.url)
    return LambdaHandler(config or stack.s3_config(), client=client, s3=s3, sqs=sqs, **kwargs)


def test_sqs_batch_reports_only_the_messages_to_retry(stack: Stack, s3_client: Any) -> None:
    good = encoded(painting(160, 128, seed=30))
    cdn = f"{stack.bucket}-cdn"
    routes = [
        stack.route(),
        # A second route whose destination bucket does not exist yet: its puts fail.
        stack.route(source=f"s3://{stack.bucket}/incoming-b/", destination=f"s3://{cdn}/public/"),
    ]
    config = stack.s3_config(routes=routes)
    stack.upload("good.png", good, ContentType="image/png")
    stack.upload("corrupt.png", b"definitely not a png", ContentType="image/png")
    messages = stack.receive_raw()  # the test event, good, corrupt
    # The notification filter is incoming/; a record for the second route is sent by hand.
    stack.s3.put_object(Bucket=stack.bucket, Key="incoming-b/late.png", Body=good, ContentType="image/png")
    late = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.bucket}, "object": {"key": "incoming-b/late.png"}},
    }
    stack.send({"Records": [late]})
    late_message = stack.receive_raw()[0]

    handler = handler_for(stack, s3_client, config)
    response = handler(sqs_event([*messages, late_message]), Context())

    assert response == {"batchItemFailures": [{"itemIdentifier": late_message["MessageId"]}]}
    assert is_cloaked(stack.read("public/good.png") or b"")
    [letter] = stack.dead_letters()
    assert letter["reason"] == "invalid_image" and letter["event"]["key"] == "incoming/corrupt.png"

    stack.s3.create_bucket(Bucket=cdn)  # the retry (Lambda redelivers the reported message) succeeds
    assert handler(sqs_event([late_message]), Context()) == {"batchItemFailures": []}
    assert is_cloaked(stack.read("public/late.png", bucket=cdn) or b"")


def test_sqs_batch_stops_starting_work_when_time_runs_out(stack: Stack, s3_client: Any) -> None:
    stack.upload("a.png", encoded(painting(160, 128, seed=31)), ContentType="image/png")
    messages = [m for m in stack.receive_raw() if "Records" in m["Body"]]
    response = handler_for(stack, s3_client)(sqs_event(messages), Context(remaining_ms=2_000))
    assert response == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert stack.head("public/a.png") is None


def test_direct_s3_and_sns_invocations(stack: Stack, s3_client: Any) -> None:
    png = encoded(painting(160, 128, seed=32))
    stack.upload("direct.png", png, ContentType="image/png")
    [message] = [m for m in stack.receive_raw() if "Records" in m["Body"]]
    s3_event = json.loads(message["Body"])  # exactly what S3 invokes a function with
    handler = handler_for(stack, s3_client)

    summary = handler(s3_event, Context())
    assert summary["outcomes"] == [
        {
            "status": "written",
            "reason": "cloaked",
            "key": "incoming/direct.png",
            "output": f"s3://{stack.bucket}/public/direct.png",
        }
    ]
    sns_event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": message["Body"]}}]}
    assert handler(sns_event, Context())["outcomes"][0]["reason"] == "up_to_date"

    # A failure that must be retried fails the invocation, so Lambda's own retries take over.
    config = stack.s3_config(routes=[stack.route(destination=f"s3://{stack.bucket}-missing/public/")])
    with pytest.raises(RetryLater, match="s3_write_failed"):
        handler_for(stack, s3_client, config)(s3_event, Context())


def test_module_level_handler_is_configured_from_the_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, shared_models: Path, session_cache: Path
) -> None:
    env = {
        **fast_env(shared_models, session_cache),
        "STYLECLOAK_S3_ROUTES": json.dumps([stack.route()]),
        "STYLECLOAK_S3_ENDPOINT_URL": stack.url,
        "STYLECLOAK_S3_SQS_ENDPOINT_URL": stack.url,
        "STYLECLOAK_S3_DLQ_URL": stack.dlq_url,
        "STYLECLOAK_S3_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(aws_lambda, "_default", None)
    stack.upload("env.png", encoded(painting(160, 128, seed=33)), ContentType="image/png")
    messages = stack.receive_raw()

    assert aws_lambda.lambda_handler(sqs_event(messages), Context()) == {"batchItemFailures": []}
    assert aws_lambda.default_handler() is aws_lambda.default_handler()  # built once per container
    assert is_cloaked(stack.read("public/env.png") or b"")


class BrokenClient:
    """A cloak client with a bug: it raises an untyped error."""

    def cloak(self, data: bytes, **options: Any) -> Any:
        raise RuntimeError("cannot allocate memory")


def test_an_untyped_failure_is_retried_then_dead_lettered_and_the_original_kept(stack: Stack) -> None:
    stack.upload("bug.png", encoded(painting(160, 128, seed=33)), ContentType="image/png")
    [message] = [m for m in stack.receive_raw() if "Records" in m["Body"]]
    handler = handler_for(stack, BrokenClient(), max_receives=3)

    first = handler(sqs_event([message]), Context())
    assert first == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert stack.dead_letters() == []

    message["Attributes"] = {"ApproximateReceiveCount": "3"}
    assert handler(sqs_event([message]), Context()) == {"batchItemFailures": []}
    [letter] = stack.dead_letters()
    assert letter["reason"] == "retries_exhausted:internal_error"
    assert "RuntimeError: cannot allocate memory" in letter["detail"]
    assert stack.head("incoming/bug.png") is not None and stack.head("public/bug.png") is None


@pytest.mark.parametrize("event", [[1, 2], 3, None])
def test_an_event_that_is_not_an_object_is_dead_lettered(stack: Stack, s3_client: Any, event: Any) -> None:
    summary = handler_for(stack, s3_client)(event, Context())
    assert summary["dead_letters"][0]["reason"] == "malformed_event"
    assert [letter["reason"] for letter in stack.dead_letters()] == ["malformed_event"]


def test_a_huge_unreadable_body_still_fits_in_one_dead_letter(stack: Stack, s3_client: Any) -> None:
    body = "é" * 100_000  # 300 KB once JSON escaped it: over SQS's 256 KiB per message
    verdict = handler_for(stack, s3_client).handler.handle(body, message_id="m-1")
    assert verdict.done
    [letter] = stack.dead_letters()
    assert letter["reason"] == "malformed_event" and letter["body_chars"] == 100_000
    assert letter["body"] == body[: len(letter["body"])] and len(letter["body"]) < len(body)


class ReuploadBeforeDelete:
    """An S3 client on which the artist re-uploads the same key just before the archive's delete lands."""

    def __init__(self, s3: Any, replacement: bytes) -> None:
        self._s3, self.replacement = s3, replacement

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def delete_object(self, **kwargs: Any) -> Any:
        self._s3.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=self.replacement)
        return self._s3.delete_object(**kwargs)


def test_archiving_never_deletes_a_reupload_that_lands_first(stack: Stack, s3_client: Any) -> None:
    first, second = encoded(painting(160, 128, seed=34)), encoded(painting(160, 128, seed=35))
    key = stack.upload("twice.png", first, ContentType="image/png")
    [message] = [m for m in stack.receive_raw() if "Records" in m["Body"]]
    config = stack.s3_config(routes=[stack.route(original="archive", archive=f"s3://{stack.bucket}/private/")])
    s3, sqs = clients(stack.url)
    handler = LambdaHandler(config, client=s3_client, s3=ReuploadBeforeDelete(s3, second), sqs=sqs)

    handler(json.loads(message["Body"]), Context())
    assert stack.read("private/twice.png") == first  # the first original, archived
    assert stack.read(key) == second  # the re-upload, kept for its own event
