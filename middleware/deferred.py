"""Deferred cloaks: an in-process queue for ``mode="deferred"`` and for fail-open's later re-cloak.

The contract of deferred mode: the view receives the *original* upload flagged ``pending`` (part
header ``X-Stylecloak: pending; ticket=…``, and the outcome's ``ticket``). It must store it privately,
in a placeholder state that is not published, keyed by the ticket. The ``defer`` callable receives a
:class:`~stylecloak.middleware.core.DeferredUpload`; once the cloak is done, the site's ``on_done``
publishes the cloaked bytes under that ticket (or records the failure and keeps the original private).

    queue = BackgroundCloaker(on_done=publish)           # publish(job, result, error)
    policy = UploadPolicy(mode="deferred", defer=queue)  # or on_unprotected=queue with fail_open

A production site would hand the job to its own task queue (Celery, RQ, SQS…) instead; the same
callable shape works.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from stylecloak.middleware.core import DeferredUpload
from stylecloak.result import CloakResult

log = logging.getLogger("stylecloak.middleware")

OnDone = Callable[[DeferredUpload, CloakResult | None, BaseException | None], None]


class BackgroundCloaker:
    """Cloaks deferred uploads on worker threads and reports each to ``on_done``."""

    def __init__(self, *, on_done: OnDone, client: Any = None, workers: int = 1) -> None:
        self.on_done = on_done
        self._client = client
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stylecloak-deferred")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            from stylecloak.client import Client

            self._client = Client()
        return self._client

    def __call__(self, job: DeferredUpload) -> None:
        future = self._executor.submit(self._run, job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, job: DeferredUpload) -> None:
        result: CloakResult | None = None
        error: BaseException | None = None
        try:
            result = job.cloak(self.client)
        except Exception as exc:
            log.warning("deferred cloak of %r failed: %s", job.upload.filename, exc)
            error = exc
        try:
            self.on_done(job, result, error)
        except Exception:
            log.exception("on_done failed for deferred upload %s", job.ticket)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the queued jobs; True if all finished within ``timeout``."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            try:
                future.result(timeout=timeout)
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=True)
