"""The SQS worker against moto's standalone server: real S3 → SQS notifications, real cloaks, real faults."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from PIL import Image
from stylecloak.adapters.s3.config import DEFAULT_CACHE_CONTROL
from stylecloak.adapters.s3.worker import Worker
from stylecloak.marker import is_cloaked

from tests.adapters.s3.harness import FaultProxy, Stack, clients, running, wait_until
from tests.conftest import encoded, painting


def make_worker(stack: Stack, client: Any, *, config: Any = None, s3: Any = None, **worker: Any) -> Worker:
    s3_default, sqs = clients(stack.url)
    return Worker(
        config or stack.s3_config(),
        stack.worker_config(**worker),
        client=client,
        s3=s3 or s3_default,
        sqs=sqs,
    )


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def drained(stack: Stack) -> bool:
    return stack.queue_depth() == 0


@pytest.mark.parametrize("engine", [False, pytest.param(True, marks=pytest.mark.engine)], ids=["fake", "engine"])
def test_upload_is_cloaked_once_with_metadata_tags_rights_and_metrics(
    versioned_stack: Stack, engine: bool, request: pytest.FixtureRequest
) -> None:
    s3_client = request.getfixturevalue("s3_engine_client" if engine else "s3_client")
    stack = versioned_stack
    png = encoded(painting(160, 128, seed=1))
    name = "ada/a b é+日.png"  # spaces, a literal '+', unicode: moto sends incoming%2Fada%2Fa+b+%C3%A9%2B...
    key = stack.upload(
        name,
        png,
        ContentType="image/png",
        Metadata={"artist-id": "ada", "title": "nocturne"},
        Tagging="licence=cc-by&owner=ada",
    )
    worker = make_worker(stack, s3_client)
    port = worker.metrics.serve(0, "127.0.0.1")
    try:
        with running(worker):
            head = wait_until(lambda: stack.head(stack.output_key(name)), 60, what="the cloaked output")
            wait_until(lambda: drained(stack), 20, what="the queue to drain")
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        worker.metrics.close()

    output = stack.read(stack.output_key(name))
    assert output is not None and output != png and is_cloaked(output)
    assert Image.open(io.BytesIO(output)).size == (160, 128)
    assert b"DMI-PROHIBITED-AIMLTRAINING" in output  # rights signals are on by default
    assert head["ContentType"] == "image/png" and head["CacheControl"] == DEFAULT_CACHE_CONTROL
    meta = head["Metadata"]
    assert meta["artist-id"] == "ada" and meta["title"] == "nocturne"
    assert meta["stylecloak"] == "cloaked" and meta["stylecloak-source-etag"] == md5(png)
    tags = stack.s3.get_object_tagging(Bucket=stack.bucket, Key=stack.output_key(name))["TagSet"]
    assert {tag["Key"]: tag["Value"] for tag in tags} == {"licence": "cc-by", "owner": "ada"}
    assert stack.read(key) == png  # the original is untouched and still private
    assert stack.versions(stack.output_key(name)) == 1
    assert stack.dead_letters() == []
    assert worker.stats.outcomes["written:cloaked"] == 1
    assert 'stylecloak_s3_processed_total{reason="cloaked",status="written"} 1.0' in metrics
    assert "stylecloak_s3_in_flight" in metrics and "stylecloak_s3_duration_seconds_count" in metrics


def test_duplicate_events_and_multipart_write_one_output(versioned_stack: Stack, s3_client: Any) -> None:
    stack = versioned_stack
    jpeg = encoded(painting(160, 128, seed=2), "JPEG", quality=92)
    key = stack.source_prefix + "multi part.jpg"
    upload = stack.s3.create_multipart_upload(Bucket=stack.bucket, Key=key, ContentType="image/jpeg")
    part = stack.s3.upload_part(Bucket=stack.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=jpeg)
    stack.s3.complete_multipart_upload(
        Bucket=stack.bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    # At-least-once delivery: every message (test event, multipart + moto's extra Put) three times.
    bodies = [message["Body"] for message in stack.receive_raw()]
    events = [body for body in bodies if "Records" in body]
    assert len(events) >= 2, "moto sends CompleteMultipartUpload and a duplicate Put"
    for body in events * 3:
        stack.send(body)

    worker = make_worker(stack, s3_client, concurrency=3)
    with running(worker):
        wait_until(lambda: stack.head("public/multi part.jpg"), 60, what="the output")
        wait_until(lambda: drained(stack), 30, what="every duplicate handled")

    assert stack.versions("public/multi part.jpg") == 1  # written exactly once
    assert worker.stats.outcomes["written:cloaked"] == 1
    repeats = worker.stats.outcomes["skipped:up_to_date"] + worker.stats.outcomes["skipped:duplicate"]
    assert repeats == len(events) * 3 - 1
    assert is_cloaked(stack.read("public/multi part.jpg") or b"")
    assert stack.read(key) == jpeg


def test_bad_uploads_go_to_the_dead_letter_queue_with_reasons(stack: Stack, s3_client: Any) -> None:
    jpeg = encoded(painting(160, 128, seed=3), "JPEG", quality=90)
    bad = {
        "corrupt.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png", "invalid_image"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "image/jpeg", "truncated_image"),
        "tiny.png": (encoded(painting(32, 32)), "image/png", "image_too_small"),
        "notes.txt": (b"not an image", "text/plain", "unsupported_content_type"),
        "empty.png": (b"", "image/png", "empty_object"),
    }
    for name, (data, content_type, _) in bad.items():
        stack.upload(name, data, ContentType=content_type)
    worker = make_worker(stack, s3_client)
    with running(worker):
        wait_until(lambda: len(stack.dead_letters()) >= len(bad), 60, what="dead letters")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    letters = {letter["event"]["key"]: letter for letter in stack.dead_letters()}
    assert {key: letter["reason"] for key, letter in letters.items()} == {
        stack.source_prefix + name: reason for name, (_, _, reason) in bad.items()
    }
    assert all(letter["detail"] and letter["record"]["eventName"] for letter in letters.values())
    for name, (data, _, _) in bad.items():
        assert stack.read(stack.source_prefix + name) == data  # originals kept
        assert stack.head(stack.output_key(name)) is None


def test_deleted_unrouted_and_already_cloaked_objects_are_skipped(stack: Stack, s3_client: Any) -> None:
    png = encoded(painting(160, 128, seed=4))
    gone = stack.upload("gone.png", png, ContentType="image/png")
    stack.s3.delete_object(Bucket=stack.bucket, Key=gone)
    cloaked = s3_client.cloak(png, steps=2).data
    stack.upload("mine.png", cloaked, ContentType="image/png")  # an artist's already-cloaked file
    # Metadata is the uploader's to write: it proves nothing, so this one is cloaked (issue 17, item 8).
    stack.upload("copied.png", png, ContentType="image/png", Metadata={"stylecloak": "cloaked"})
    # An event for a key no route watches (as if someone wired the public prefix to the queue too).
    stack.s3.put_object(Bucket=stack.bucket, Key="public/x.png", Body=png)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.bucket}, "object": {"key": "public/x.png", "size": len(png)}},
    }
    stack.send({"Records": [record]})

    worker = make_worker(stack, s3_client)
    with running(worker):
        wait_until(lambda: sum(worker.stats.outcomes.values()) >= 4, 60, what="four outcomes")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    assert worker.stats.outcomes == {
        "skipped:source_missing": 1,
        "skipped:already_cloaked": 1,
        "written:cloaked": 1,
        "skipped:unrouted": 1,
    }
    assert stack.dead_letters() == []
    assert stack.head("public/gone.png") is None and stack.head("public/mine.png") is None
    assert is_cloaked(stack.read("public/copied.png") or b"")


def test_missing_destination_bucket_is_retried_until_it_exists(stack: Stack, s3_client: Any) -> None:
    png = encoded(painting(160, 128, seed=5))
    cdn = f"{stack.bucket}-cdn"
    config = stack.s3_config(routes=[stack.route(destination=f"s3://{cdn}/public/")])
    key = stack.upload("late.png", png, ContentType="image/png")
    worker = make_worker(stack, s3_client, config=config, max_receives=50)
    with running(worker):
        wait_until(lambda: worker.stats.retried >= 2, 60, what="two failed attempts")
        assert stack.queue_depth() == 1  # the message was kept, not deleted
        stack.s3.create_bucket(Bucket=cdn)
        wait_until(lambda: stack.head("public/late.png", bucket=cdn), 60, what="the output after the bucket appears")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    assert worker.metrics.value("stylecloak_s3_failed_total", reason="s3_write_failed") >= 2
    assert is_cloaked(stack.read("public/late.png", bucket=cdn) or b"")
    assert stack.read(key) == png and stack.dead_letters() == []


def test_failing_s3_puts_through_a_proxy_are_retried(versioned_stack: Stack, s3_client: Any) -> None:
    stack = versioned_stack
    failures = {"left": 3}

    def fail_output_puts(method: str, path: str) -> bool:
        if method == "PUT" and "/public/" in path and failures["left"] > 0:
            failures["left"] -= 1
            return True
        return False

    proxy = FaultProxy(stack.url, fail_output_puts).start()
    try:
        s3, _ = clients(proxy.url, max_attempts=1)  # every injected 503 reaches the adapter
        png = encoded(painting(160, 128, seed=6))
        stack.upload("flaky.png", png, ContentType="image/png")
        worker = make_worker(stack, s3_client, config=stack.s3_config(url=proxy.url), s3=s3)
        with running(worker):
            wait_until(lambda: stack.head("public/flaky.png"), 60, what="the output")
            wait_until(lambda: drained(stack), 20, what="the queue to drain")
    finally:
        proxy.stop()

    assert len(proxy.failed) == 3 and worker.stats.retried == 3
    assert stack.versions("public/flaky.png") == 1
    assert is_cloaked(stack.read("public/flaky.png") or b"") and stack.dead_letters() == []


def test_a_message_that_keeps_failing_is_dead_lettered_after_max_receives(stack: Stack, s3_client: Any) -> None:
    png = encoded(painting(160, 128, seed=7))
    config = stack.s3_config(routes=[stack.route(destination=f"s3://{stack.bucket}-nowhere/public/")])
    key = stack.upload("doomed.png", png, ContentType="image/png")
    worker = make_worker(stack, s3_client, config=config, max_receives=2, retry_delay_s=0.2)
    with running(worker):
        wait_until(lambda: stack.dead_letters(), 60, what="the dead letter")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    [letter] = stack.dead_letters()
    assert letter["reason"] == "retries_exhausted:s3_write_failed"
    assert letter["receive_count"] == 2 and "NoSuchBucket" in letter["detail"]
    assert json.loads(letter["body"])["Records"][0]["s3"]["object"]["key"].endswith("doomed.png")
    assert stack.read(key) == png


def test_archive_moves_the_original_after_the_output_and_survives_redelivery(stack: Stack, s3_client: Any) -> None:
    png = encoded(painting(160, 128, seed=8))
    config = stack.s3_config(routes=[stack.route(original="archive", archive=f"s3://{stack.bucket}/private/")])
    key = stack.upload("kept.png", png, ContentType="image/png", Metadata={"artist-id": "bo"})
    [message] = [m for m in stack.receive_raw() if "Records" in m["Body"]]
    stack.send(message["Body"])
    stack.send(message["Body"])  # redelivered after the original was archived
    worker = make_worker(stack, s3_client, config=config, concurrency=1)
    with running(worker):
        wait_until(lambda: sum(worker.stats.outcomes.values()) >= 2, 60, what="both deliveries")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    assert worker.stats.outcomes == {"written:cloaked": 1, "skipped:already_done": 1}
    assert stack.head(key) is None  # moved...
    assert stack.read("private/kept.png") == png  # ...intact, with its metadata
    assert (stack.head("private/kept.png") or {})["Metadata"] == {"artist-id": "bo"}
    assert is_cloaked(stack.read("public/kept.png") or b"")


def test_malformed_and_sns_wrapped_messages(stack: Stack, s3_client: Any) -> None:
    png = encoded(painting(160, 128, seed=9))
    stack.upload("via sns.png", png, ContentType="image/png")
    [message] = [m for m in stack.receive_raw() if "Records" in m["Body"]]
    stack.send({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": message["Body"]})
    stack.send("this is not an S3 event")
    worker = make_worker(stack, s3_client)
    with running(worker):
        wait_until(lambda: stack.head("public/via sns.png"), 60, what="the output")
        wait_until(lambda: stack.dead_letters(), 20, what="the dead letter")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    [letter] = stack.dead_letters()
    assert letter["reason"] == "malformed_event" and letter["body"] == "this is not an S3 event"


def test_visibility_is_extended_while_a_long_cloak_runs(stack: Stack, tmp_path: Path) -> None:
    from stylecloak.testing import FakeClient

    png = encoded(painting(160, 128, seed=10))
    stack.upload("slow.png", png, ContentType="image/png")
    config = stack.s3_config(routes=[stack.route(steps=80)])
    slow = FakeClient(cache_dir=tmp_path, delay_s=6.0)  # three visibility timeouts long
    worker = make_worker(stack, slow, config=config, visibility_timeout_s=2, concurrency=2)
    with running(worker):
        wait_until(lambda: stack.head("public/slow.png"), 120, what="the output")
        wait_until(lambda: drained(stack), 20, what="the queue to drain")

    seconds = worker.metrics.value("stylecloak_s3_duration_seconds_sum")
    assert seconds > 2 * 2, f"the cloak took {seconds:.1f}s: too short to prove anything"
    # Without extensions the message would have reappeared and been taken by the idle second thread.
    assert worker.stats.received == 2  # the test event and the upload, once each
    assert worker.stats.outcomes == {"written:cloaked": 1}
