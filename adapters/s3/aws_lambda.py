"""AWS Lambda entry point: ``stylecloak.adapters.s3.aws_lambda.lambda_handler``.

Triggered by S3 directly (an asynchronous invocation with S3 records), by SNS, or by an SQS event
source mapping. With SQS, enable ``ReportBatchItemFailures``: only the messages that must be retried
are reported back; the others are deleted by Lambda. Without SQS, a record that must be retried makes
the invocation fail, so Lambda's own retries and on-failure destination take over.

Configuration comes from the environment: ``STYLECLOAK_*`` for the client (``STYLECLOAK_BACKEND=http``
and ``STYLECLOAK_ENDPOINT`` to cloak on a Serve cluster) and ``STYLECLOAK_S3_*`` for the routes (see
:func:`stylecloak.adapters.s3.config.config_from_env`). The handler is built once per container.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from stylecloak.adapters.s3.config import ENV_PREFIX, S3Config, config_from_env
from stylecloak.adapters.s3.handler import EventHandler, Verdict
from stylecloak.adapters.s3.metrics import Metrics
from stylecloak.adapters.s3.processor import RetryLater

log = logging.getLogger(__name__)

DEFAULT_MAX_RECEIVES = 5
# Stop starting new SQS records when less time than this is left; they are reported for a retry.
DEFAULT_SAFETY_MARGIN_S = 15.0


class LambdaHandler:
    """A callable ``(event, context)``; built with explicit parts for tests and custom wiring."""

    def __init__(
        self,
        config: S3Config,
        *,
        client: Any,
        s3: Any = None,
        sqs: Any = None,
        max_receives: int = DEFAULT_MAX_RECEIVES,
        safety_margin_s: float = DEFAULT_SAFETY_MARGIN_S,
        metrics: Metrics | None = None,
    ) -> None:
        if s3 is None or sqs is None:
            from stylecloak.adapters.s3.aws import make_clients

            made_s3, made_sqs = make_clients(config)
            s3, sqs = s3 or made_s3, sqs or made_sqs
        self.handler = EventHandler(config, client, s3, sqs, metrics=metrics or Metrics())
        self.max_receives = max_receives
        self.safety_margin_s = safety_margin_s

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if isinstance(records, list) and records and all(_is_sqs(record) for record in records):
            return self._sqs_batch(records, context)
        verdict = self.handler.handle(event)
        if not verdict.done:
            assert verdict.retry is not None
            raise verdict.retry  # fail the invocation: Lambda retries it, then its failure destination
        return _summary(verdict)

    def _sqs_batch(self, records: list[Mapping[str, Any]], context: Any) -> dict[str, Any]:
        failures: list[dict[str, str]] = []
        for record in records:
            message_id = str(record.get("messageId", ""))
            if _remaining_s(context) < self.safety_margin_s:
                failures.append({"itemIdentifier": message_id})
                continue
            attributes = record.get("attributes") or {}
            try:
                verdict = self.handler.handle(
                    str(record.get("body", "")),
                    message_id=message_id,
                    receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
                    max_receives=self.max_receives,
                )
            except Exception:  # one bad record must not fail the whole batch
                log.exception("unexpected error on message %s", message_id)
                verdict = Verdict(retry=RetryLater("internal_error", "see the log"))
            if not verdict.done:
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}


def _is_sqs(record: object) -> bool:
    return isinstance(record, Mapping) and record.get("eventSource") == "aws:sqs"


def _remaining_s(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float(remaining()) / 1000 if callable(remaining) else float("inf")


def _summary(verdict: Verdict) -> dict[str, Any]:
    return {
        "outcomes": [
            {"status": o.status, "reason": o.reason, "key": o.event.key, "output": o.output} for o in verdict.outcomes
        ],
        "dead_letters": [{"reason": letter.reason, "detail": letter.detail} for letter in verdict.dead_letters],
    }


_default: LambdaHandler | None = None
_default_lock = threading.Lock()


def default_handler() -> LambdaHandler:
    """The handler built from the environment, once per Lambda container."""
    global _default
    with _default_lock:
        if _default is None:
            from stylecloak.client import Client

            max_receives = int(os.environ.get(ENV_PREFIX + "MAX_RECEIVES", DEFAULT_MAX_RECEIVES))
            _default = LambdaHandler(config_from_env(), client=Client(), max_receives=max_receives)
        return _default


def lambda_handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The AWS Lambda handler."""
    return default_handler()(event, context)
