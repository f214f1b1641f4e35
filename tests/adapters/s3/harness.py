"""A real S3 + SQS protocol server and real faults, for the S3 adapter tests and the soak benchmark.

* :class:`MotoServer`: moto's standalone server on 127.0.0.1 (a free port), spoken to with boto3 over
  HTTP only, exactly as the adapters speak to AWS.
* :func:`create_stack`: a bucket whose ``incoming/`` prefix notifies an SQS queue (with a redrive
  policy to a dead-letter queue), as one would wire it on AWS.
* :class:`FaultProxy`: an HTTP proxy in front of the server that fails chosen requests with a 503,
  the way S3 does when it is throttling or unavailable.
* :class:`WorkerProcess`: ``stylecloak worker s3`` as a child process, to kill or stop with signals.

Nothing here mocks boto3, S3 or the engine.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from tests.conftest import fast_env

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROOT = Path(__file__).resolve().parents[3]


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail loudly after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


def clients(url: str, *, max_attempts: int | None = None) -> tuple[Any, Any]:
    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    config = Config(retries=retries)  # type: ignore[arg-type]
    s3 = boto3.client("s3", endpoint_url=url, region_name=REGION, config=config, **CREDENTIALS)
    sqs = boto3.client("sqs", endpoint_url=url, region_name=REGION, config=config, **CREDENTIALS)
    return s3, sqs


class MotoServer:
    """moto's standalone S3/SQS server in a thread of this process, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()


@dataclass
class Stack:
    """A watched bucket, its event queue and dead-letter queue on one server."""

    url: str
    s3: Any
    sqs: Any
    bucket: str
    queue_url: str
    dlq_url: str
    source_prefix: str = "incoming/"
    public_prefix: str = "public/"
    archive_prefix: str = "private/"
    seen_dead_letters: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -------------------------------------------------------------- configuration of the adapters

    def route(self, **overrides: Any) -> dict[str, Any]:
        route: dict[str, Any] = {
            "source": f"s3://{self.bucket}/{self.source_prefix}",
            "destination": f"s3://{self.bucket}/{self.public_prefix}",
            "steps": 2,
        }
        route.update(overrides)
        return route

    def s3_config(self, *, url: str | None = None, routes: list[dict[str, Any]] | None = None, **overrides: Any) -> Any:
        from stylecloak.adapters.s3.config import S3Config

        data: dict[str, Any] = {
            "routes": routes or [self.route()],
            "endpoint_url": url or self.url,
            "sqs_endpoint_url": self.url,
            "region": REGION,
            "dlq_url": self.dlq_url,
        }
        data.update(overrides)
        return S3Config.model_validate(data)

    def worker_config(self, **overrides: Any) -> Any:
        from stylecloak.adapters.s3.config import WorkerConfig

        data: dict[str, Any] = {
            "queue_url": self.queue_url,
            "concurrency": 2,
            "wait_time_s": 1,
            "visibility_timeout_s": 5,
            "max_receives": 5,
            "retry_delay_s": 0.5,
            "shutdown_grace_s": 5,
        }
        data.update(overrides)
        return WorkerConfig.model_validate(data)

    # -------------------------------------------------------------- S3

    def upload(self, name: str, data: bytes, *, prefix: str | None = None, **kwargs: Any) -> str:
        key = (self.source_prefix if prefix is None else prefix) + name
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **kwargs)
        return key

    def output_key(self, name: str) -> str:
        return self.public_prefix + name

    def read(self, key: str, bucket: str | None = None) -> bytes | None:
        try:
            data: bytes = self.s3.get_object(Bucket=bucket or self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return data

    def head(self, key: str, bucket: str | None = None) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=bucket or self.bucket, Key=key)
        except self.s3.exceptions.ClientError:
            return None
        return head

    def versions(self, key: str, bucket: str | None = None) -> int:
        """How many times ``key`` was written (the bucket must be versioned)."""
        listing = self.s3.list_object_versions(Bucket=bucket or self.bucket, Prefix=key)
        return sum(1 for version in listing.get("Versions", []) if version["Key"] == key)

    # -------------------------------------------------------------- SQS

    def send(self, body: str | dict[str, Any]) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)

    def queue_depth(self, queue_url: str | None = None) -> int:
        """Messages in the queue, visible or in flight."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def receive_raw(self, wait: int = 1) -> list[dict[str, Any]]:
        """Take the event messages out of the queue, deleting them (for tests that feed them back themselves)."""
        messages: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return messages
            for message in got:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            messages.extend(got)
            wait = 0

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead-letter entry so far (read once, kept here)."""
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=600
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                self.seen_dead_letters[message["MessageId"]] = json.loads(message["Body"])
        return list(self.seen_dead_letters.values())


def create_stack(
    url: str,
    *,
    versioning: bool = False,
    visibility_timeout: int = 5,
    max_receive_count: int = 50,
    prefix: str = "incoming/",
) -> Stack:
    """A bucket with S3 → SQS notifications for ``prefix`` (filter on the notification, as on AWS)."""
    s3, sqs = clients(url)
    name = f"art-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{name}-events",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return Stack(url, s3, sqs, name, queue_url, dlq_url, source_prefix=prefix)


# ------------------------------------------------------------------ a proxy that fails requests


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the soak's SIGKILLs) resets its connection; that is expected.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultProxy:
    """Forwards HTTP to ``upstream``; requests for which ``should_fail(method, path)`` is true get a 503.

    boto3 retries a 503 itself (``max_attempts``), so a fault that outlasts its retries reaches the
    adapter as an S3 error, exactly like a real outage.
    """

    def __init__(self, upstream: str, should_fail: Callable[[str, str], bool] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.should_fail = should_fail or (lambda method, path: False)
        self.failed: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                if proxy.should_fail(self.command, self.path):
                    with proxy._lock:
                        proxy.failed.append((self.command, self.path))
                    payload = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
                        b"<Message>injected fault</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}
                }
                if body or self.command in {"PUT", "POST"}:
                    headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    lowered = key.lower()
                    if lowered in {"transfer-encoding", "connection", "date", "server"}:
                        continue
                    if lowered == "content-length" and self.command != "HEAD":
                        continue
                    self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.end_headers()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# ------------------------------------------------------------------ the worker as a process


#: STYLECLOAK_MARKER_KEY of worker processes (``marker.check(data, key=MARKER_KEY)`` verifies their outputs).
MARKER_KEY = "s3-tests-marker-key"


def worker_env(models_dir: Path | str, cache_dir: Path | str) -> dict[str, str]:
    """The environment of a worker process: fast cloak settings, fake credentials, nothing else."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STYLECLOAK_", "AWS_"))}
    env.update(
        {
            **fast_env(models_dir, cache_dir),
            "STYLECLOAK_THREADS": "1",
            # The platform's marker key: the test process checks the workers' markers with it.
            "STYLECLOAK_MARKER_KEY": MARKER_KEY,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class WorkerProcess:
    """``python -m stylecloak -v worker s3 ...`` as a child; its stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "stylecloak", "-v", "worker", "s3", *args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name=f"worker-{self.process.pid}-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 60.0, after: int = 0) -> int:
        """Index of the first line (from ``after``) matching ``pattern``."""
        regex = re.compile(pattern)

        def found() -> int | None:
            for index in range(after, len(self.lines)):
                if regex.search(self.lines[index]):
                    return index + 1  # +1 so that index 0 is truthy
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}):\n" + "\n".join(self.lines[-30:]))
            return None

        return int(wait_until(found, timeout, what=f"worker output {pattern!r}")) - 1

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return "\n".join(self.lines)

    def close(self) -> None:
        """Make sure the process is gone (SIGKILL if it is still running)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def running(worker: Any) -> Iterator[Any]:
    """Run an in-process :class:`~stylecloak.adapters.s3.worker.Worker` in a thread for the block."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="s3-worker-main", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the worker did not stop"
    if errors:
        raise errors[0]
