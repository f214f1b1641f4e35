"""A long-polling SQS worker for S3 → SQS event notifications (``stylecloak worker s3``).

Guarantees, given SQS's at-least-once delivery:

* a message is deleted only after every record in it is written, skipped or dead-lettered;
* while a cloak runs, the message's visibility is extended, so no other worker takes it;
* a worker that dies (killed, out of memory, node lost) stops extending: the message reappears
  after the visibility timeout and another worker finishes it (the output write is idempotent);
* a failing message is retried with a growing delay and dead-lettered after ``max_receives``;
* on SIGTERM the worker stops receiving, gives in-flight cloaks ``shutdown_grace_s`` to finish, then
  releases the rest (visibility 0) so another worker takes them at once.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from stylecloak.adapters.s3.aws import client_errors, describe_error
from stylecloak.adapters.s3.config import S3Config, WorkerConfig
from stylecloak.adapters.s3.handler import EventHandler, Verdict
from stylecloak.adapters.s3.metrics import Metrics
from stylecloak.adapters.s3.processor import EventOutcome, RetryLater
from stylecloak.errors import ConfigurationError

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 900
MAX_POLL_BACKOFF_S = 30.0
RELEASE_WAIT_S = 10.0


class Released(Exception):
    """Raised inside a running cloak (through its progress callback) once its message was released."""


@dataclass(slots=True)
class Job:
    message_id: str
    receipt: str
    body: str
    receive_count: int
    released: bool = False
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, done: int = 0, total: int = 0) -> None:
        """ProgressCallback callback of the cloak: abort it once the message was handed back."""
        if self.released:
            raise Released(self.message_id)


@dataclass(slots=True)
class WorkerStats:
    received: int = 0
    deleted: int = 0
    retried: int = 0
    released: int = 0
    dead_lettered: int = 0
    receive_counts: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    recent: deque[EventOutcome] = field(default_factory=lambda: deque(maxlen=1000))


class Worker:
    """Receives S3 event messages from one SQS queue and cloaks what they point at."""

    def __init__(
        self,
        config: S3Config,
        worker: WorkerConfig,
        *,
        client: Any,
        s3: Any = None,
        sqs: Any = None,
        metrics: Metrics | None = None,
    ) -> None:
        if s3 is None or sqs is None:
            from stylecloak.adapters.s3.aws import make_clients

            made_s3, made_sqs = make_clients(config)
            s3, sqs = s3 or made_s3, sqs or made_sqs
        self.sqs = sqs
        self.worker = worker
        self.metrics = metrics or Metrics()
        self._errors = client_errors()
        if config.dlq_url is None:
            config = config.model_copy(update={"dlq_url": self._redrive_dlq(worker.queue_url)})
        self.config = config
        self.handler = EventHandler(config, client, s3, sqs, metrics=self.metrics)
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._inflight: dict[str, Job] = {}
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask the worker to stop (safe from a signal handler); :meth:`run` then shuts down gracefully."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> WorkerStats:
        """Poll until :meth:`stop`; returns the counts. Never raises for a bad message or an S3 hiccup."""
        threads = [
            threading.Thread(target=self._work_loop, name=f"s3-worker-{n}", daemon=True)
            for n in range(self.worker.concurrency)
        ]
        threads.append(threading.Thread(target=self._heartbeat_loop, name="s3-heartbeat", daemon=True))
        for thread in threads:
            thread.start()
        log.info("polling %s (concurrency %d)", self.worker.queue_url, self.worker.concurrency)
        backoff = 1.0
        try:
            while not self.stopping:
                free = self._wait_for_capacity()
                if free == 0:
                    continue
                try:
                    messages = self._receive(free)
                except self._errors as exc:
                    log.warning("receive failed (%s); retrying in %.0fs", describe_error(exc), backoff)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_POLL_BACKOFF_S)
                    continue
                backoff = 1.0
                for message in messages:
                    self._start(message)
        finally:
            self._shutdown()
        return self.stats

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.worker.shutdown_grace_s
        with self._changed:
            while self._inflight and time.monotonic() < deadline:
                self._changed.wait(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
            leftover = list(self._inflight.values())
        for job in leftover:
            self._release(job)
        # A released cloak stops at its next step; wait for that, as a process must not exit while a
        # thread is inside torch (it aborts). A backend without progress callbacks is not waited for.
        deadline = time.monotonic() + RELEASE_WAIT_S
        with self._changed:
            while self._inflight and time.monotonic() < deadline:
                self._changed.wait(timeout=0.2)
        for _ in range(self.worker.concurrency):
            self._jobs.put(None)
        log.info("stopped (%d released)", len(leftover))

    # ------------------------------------------------------------------ receiving

    def _wait_for_capacity(self) -> int:
        with self._changed:
            free = self.worker.concurrency - len(self._inflight)
            if free <= 0:
                self._changed.wait(timeout=0.5)
                return 0
            return min(free, 10)

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.worker.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.worker.wait_time_s,
            VisibilityTimeout=self.worker.visibility_timeout_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _start(self, message: dict[str, Any]) -> None:
        attributes = message.get("Attributes") or {}
        job = Job(
            message_id=message["MessageId"],
            receipt=message["ReceiptHandle"],
            body=message.get("Body", ""),
            receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        )
        self.stats.received += 1
        self.stats.receive_counts[job.receive_count] += 1
        if self.stopping:  # received during shutdown: hand it straight back
            self._release(job)
            return
        with self._changed:
            self._inflight[job.message_id] = job
            self.metrics.in_flight.set(len(self._inflight))
        self._jobs.put(job)

    # ------------------------------------------------------------------ processing

    def _work_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._process(job)
            finally:
                with self._changed:
                    self._inflight.pop(job.message_id, None)
                    self.metrics.in_flight.set(len(self._inflight))
                    self._changed.notify_all()

    def _process(self, job: Job) -> None:
        if job.released:
            return
        log.info("processing message %s (receive %d)", job.message_id, job.receive_count)
        try:
            verdict = self.handler.handle(
                job.body,
                message_id=job.message_id,
                receive_count=job.receive_count,
                max_receives=self.worker.max_receives,
                progress=job.check,
            )
        except Released:
            return
        except Exception as exc:  # a bug must cost a retry, never the worker or the message
            log.exception("unexpected error on message %s", job.message_id)
            verdict = Verdict(retry=RetryLater("internal_error", f"{type(exc).__name__}: {exc}"))
            self.metrics.failed.labels(reason="internal_error").inc()
        with job.lock:
            if job.released:
                return  # another worker may own the message now; its receipt is not ours to use
            job.finished = True
        for outcome in verdict.outcomes:
            self.stats.outcomes[f"{outcome.status}:{outcome.reason}"] += 1
            self.stats.recent.append(outcome)
        if verdict.done:
            self.stats.dead_lettered += len(verdict.dead_letters)
        if verdict.done:
            self._delete(job)
        else:
            self._retry_later(job, verdict)

    def _delete(self, job: Job) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.worker.queue_url, ReceiptHandle=job.receipt)
            self.stats.deleted += 1
        except self._errors as exc:
            # The message comes back and is then found up to date; nothing is lost.
            log.warning("could not delete message %s: %s", job.message_id, describe_error(exc))

    def _retry_later(self, job: Job, verdict: Verdict) -> None:
        self.stats.retried += 1
        delay = min(self.worker.retry_delay_s * 2 ** (job.receive_count - 1), MAX_RETRY_DELAY_S)
        log.info("message %s kept for a retry in %.0fs (%s)", job.message_id, delay, verdict.retry)
        self._set_visibility(job, int(delay))

    def _release(self, job: Job) -> None:
        with job.lock:
            if job.finished:
                return
            job.released = True
            # Under the job's lock, so a heartbeat's extension cannot land after it and hide the
            # message again for a whole visibility timeout.
            self._set_visibility(job, 0)
        self.stats.released += 1

    def _set_visibility(self, job: Job, seconds: int) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.worker.queue_url, ReceiptHandle=job.receipt, VisibilityTimeout=seconds
            )
        except self._errors as exc:
            log.warning("could not change the visibility of %s: %s", job.message_id, describe_error(exc))

    # ------------------------------------------------------------------ keeping messages hidden

    def _heartbeat_loop(self) -> None:
        # A third of the timeout: two extensions can fail (a slow call, an S3 hiccup) before it lapses.
        interval = max(1.0, self.worker.visibility_timeout_s / 3)
        while True:
            if self._stop.is_set():
                # Shutting down: the stop event no longer blocks, so wait on the work itself.
                with self._changed:
                    self._changed.wait_for(lambda: not self._inflight, timeout=interval)
            else:
                self._stop.wait(interval)
            with self._changed:
                if self._stop.is_set() and not self._inflight:
                    return
                jobs = list(self._inflight.values())
            for job in jobs:
                with job.lock:
                    if not job.finished and not job.released:
                        self._set_visibility(job, self.worker.visibility_timeout_s)

    # ------------------------------------------------------------------ set-up

    def _redrive_dlq(self, queue_url: str) -> str:
        """The dead-letter queue of the queue's redrive policy, when no dlq_url was given."""
        try:
            attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        except self._errors as exc:
            raise ConfigurationError(f"cannot read the queue {queue_url}: {describe_error(exc)}") from exc
        policy = (attributes.get("Attributes") or {}).get("RedrivePolicy")
        if not policy:
            raise ConfigurationError(
                "no dead-letter queue: pass --dlq (STYLECLOAK_S3_DLQ_URL) or give the queue a redrive policy"
            )
        arn = json.loads(policy)["deadLetterTargetArn"]
        _, _, _, _, account, name = arn.split(":", 5)
        try:
            url: str = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        except self._errors as exc:
            raise ConfigurationError(f"cannot find the dead-letter queue {arn}: {describe_error(exc)}") from exc
        return url
