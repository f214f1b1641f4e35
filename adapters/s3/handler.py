"""One message in, one verdict out: shared by the SQS worker and the Lambda handler.

A message (an SQS body, an SNS notification, a Lambda S3 event) holds zero or more S3 records. Each
record is processed; records that can never succeed become dead letters (sent to the dead-letter
queue as JSON with their reason); a transient failure of any record keeps the whole message for a
retry (the records that succeeded are then recognised as up to date), until ``max_receives`` is
reached and the message itself is dead-lettered with the last failure as its reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stylecloak._version import __version__
from stylecloak.adapters.s3.aws import client_errors, describe_error
from stylecloak.adapters.s3.config import S3Config
from stylecloak.adapters.s3.events import ObjectEvent, parse_message
from stylecloak.adapters.s3.metrics import Metrics
from stylecloak.adapters.s3.processor import EventOutcome, Processor, RetryLater
from stylecloak.errors import MalformedEventError
from stylecloak.result import ProgressCallback

log = logging.getLogger(__name__)

# SQS holds 256 KiB per message; a dead letter quotes at most this many characters of the raw body
# (UTF-8: 4 bytes each at worst), leaving room for the rest of the entry.
MAX_BODY_CHARS = 32_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a record (or a whole message) can never be cloaked; the body of a dead-letter message."""

    reason: str
    detail: str
    event: ObjectEvent | None = None
    body: str | None = None  # the raw message, when no record could be read from it
    message_id: str | None = None
    receive_count: int = 1

    def to_json(self) -> str:
        entry: dict[str, Any] = {
            "reason": self.reason,
            "detail": self.detail,
            "event": self.event.describe() if self.event is not None else None,
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "stylecloak": __version__,
        }
        if self.body is not None:
            entry["body"] = self.body[:MAX_BODY_CHARS]
            if len(self.body) > MAX_BODY_CHARS:
                entry["body_chars"] = len(self.body)  # cut: the entry must fit in one SQS message
        elif self.event is not None:
            entry["record"] = dict(self.event.record)
        return json.dumps(entry, default=str, ensure_ascii=False)


@dataclass(slots=True)
class Verdict:
    """The result of one message: its outcomes, its dead letters, and whether to retry it."""

    outcomes: list[EventOutcome] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    retry: RetryLater | None = None

    @property
    def done(self) -> bool:
        """The message may be deleted: every record is written, skipped or dead-lettered."""
        return self.retry is None


class EventHandler:
    """Processes messages and sends their dead letters; knows nothing about how they were received."""

    def __init__(self, config: S3Config, client: Any, s3: Any, sqs: Any, *, metrics: Metrics | None = None) -> None:
        self.config = config
        self.processor = Processor(config, client, s3)
        self.sqs = sqs
        self.metrics = metrics
        self._errors = client_errors()

    def handle(
        self,
        body: str | Mapping[str, Any],
        *,
        message_id: str | None = None,
        receive_count: int = 1,
        max_receives: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Verdict:
        started = time.perf_counter()
        verdict = Verdict()
        raw = body if isinstance(body, str) else json.dumps(body, default=str)
        try:
            events = parse_message(body)
        except MalformedEventError as exc:
            detail = f"{exc.message} ({exc.detail})" if exc.detail else exc.message
            verdict.dead_letters.append(DeadLetter(exc.code, detail, None, raw, message_id, receive_count))
            events = []
        for event in events:
            try:
                outcome = self.processor.process(event, progress=progress)
            except RetryLater as exc:
                log.warning("retry later: %s: %s", event.identity, exc)
                verdict.retry = exc
                self._count_failure(exc.reason)
                continue
            except Exception as exc:
                # A bug or an untyped failure below: retried like a transient one, so that once
                # max_receives is reached the message is dead-lettered with this as its reason.
                log.exception("unexpected error on %s", event.identity)
                verdict.retry = RetryLater("internal_error", f"{type(exc).__name__}: {exc}")
                self._count_failure("internal_error")
                continue
            verdict.outcomes.append(outcome)
            self._count(outcome.status, outcome.reason)
            if outcome.status == "dead_letter":
                verdict.dead_letters.append(
                    DeadLetter(outcome.reason, outcome.detail, event, None, message_id, receive_count)
                )
            else:
                log.info("%s %s: %s", outcome.status, event.identity, outcome.reason)
        if verdict.retry is not None and max_receives is not None and receive_count >= max_receives:
            reason = f"retries_exhausted:{verdict.retry.reason}"
            detail = f"still failing after {receive_count} receives: {verdict.retry.message}"
            verdict.dead_letters.append(DeadLetter(reason, detail, None, raw, message_id, receive_count))
            self._count("dead_letter", reason)
            verdict.retry = None
        if verdict.dead_letters:
            self._send_dead_letters(verdict)
        if self.metrics is not None:
            self.metrics.duration.observe(time.perf_counter() - started)
        return verdict

    def _send_dead_letters(self, verdict: Verdict) -> None:
        for letter in verdict.dead_letters:
            log.error("dead letter (%s): %s", letter.reason, letter.detail)
        if self.config.dlq_url is None:
            # No queue to hold the reason: keep the message so the queue's own redrive (or Lambda's
            # failure handling) keeps it; the reason is in the log above.
            verdict.retry = RetryLater("no_dead_letter_queue", "dead letters but no dlq_url configured")
            return
        for letter in verdict.dead_letters:
            try:
                self.sqs.send_message(
                    QueueUrl=self.config.dlq_url,
                    MessageBody=letter.to_json(),
                    MessageAttributes={"reason": {"DataType": "String", "StringValue": letter.reason[:256]}},
                )
            except self._errors as exc:
                verdict.retry = RetryLater("dead_letter_failed", describe_error(exc))
                self._count_failure("dead_letter_failed")
                return

    def _count(self, status: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.processed.labels(status=status, reason=reason).inc()

    def _count_failure(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.failed.labels(reason=reason).inc()
