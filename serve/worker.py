"""The cloak worker's logic, free of Ray: run a batch of requests through ``Cloaker.cloak_many``.

A batch (what ``@serve.batch`` collected, at most the worker's ``max_batch_size``) is split into
groups that one engine call can take together: the same options apart from the artist and the target
style, and a large image alone. The engine does the rest (buckets by working grid, batches of up to
``max_batch_size``): one grouping by shape, in the engine. Each item
ends in an :class:`WorkResult`: the cloaked bytes (sync requests), or a note that the job's result is
in the store (jobs), or the typed error. Errors are returned, never raised, so one bad upload never
fails its batch-mates; they cross the Ray boundary as the same :mod:`stylecloak.errors` exceptions
(they pickle with their code, message and detail) and the ingress raises them as they are.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stylecloak.errors import ConfigurationError, JobCancelledError, ServerError, StylecloakError
from stylecloak.result import CloakResult
from stylecloak.wire import SIGNING_PREFIX, CloakOptions, encode_report

from .config import AppConfig
from .jobs import JobBoard
from .metrics import Metrics, NullMetrics
from .store import open_store

log = logging.getLogger(__name__)

# Job progress is written at most this often per job (plus once at the end).
PROGRESS_EVERY_S = 0.5
# Engine errors after which a replica is not trusted any more (Serve replaces it on failed health).
FATAL_MARKERS = ("CUDA error", "out of memory", "device-side assert", "NCCL")
#: Images larger than this (width × height) are cloaked one at a time, never batched together.
BATCH_MAX_PIXELS = 4_000_000


@dataclass(frozen=True)
class WorkItem:
    """One request for a worker: inline bytes (sync) or a job id whose upload is in the store."""

    options: CloakOptions
    data: bytes | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class WorkResult:
    """What a worker hands back for one item. ``sha256`` is the input's, checked by the ingress."""

    data: bytes | None = None
    content_type: str = ""
    report: str = ""
    sha256: str = ""
    error: StylecloakError | None = None
    stored: bool = False


@dataclass
class _Item:
    index: int
    work: WorkItem
    data: bytes = b""
    sha256: str = ""
    size: tuple[int, int] | None = None
    last_write: float = 0.0
    cancelled: bool = False


@dataclass
class _Group:
    items: list[_Item] = field(default_factory=list)


def probe_size(data: bytes) -> tuple[int, int] | None:
    """The image's size from its header, for the large-image rule only (``None``: the engine says what is wrong)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


class WorkerCore:
    """Loads the engine once and cloaks batches. Blocking: the Ray replica calls it in a thread."""

    def __init__(self, config: AppConfig, *, metrics: Metrics | None = None, cloaker: Any = None) -> None:
        self.config = config
        self.settings = config.engine_settings()
        if cloaker is None:
            from stylecloak.engine.cloaker import Cloaker

            cloaker = Cloaker(self.settings)
        self.cloaker = cloaker
        self.board = JobBoard(open_store(config.store, endpoint_url=config.s3_endpoint_url), stale_s=config.job_stale_s)
        self.metrics: Metrics = metrics or NullMetrics()
        self.fatal: str | None = None
        self._signing = _server_signing()
        self._lock = threading.Lock()

    def check_health(self) -> None:
        if self.fatal is not None:
            raise RuntimeError(f"worker unhealthy after: {self.fatal}")

    # ------------------------------------------------------------------ a batch

    def run_batch(self, works: Sequence[WorkItem]) -> list[WorkResult]:
        with self._lock:
            outcomes: list[WorkResult | None] = [None] * len(works)
            groups: dict[tuple[Any, ...], _Group] = {}
            for index, work in enumerate(works):
                item = _Item(index, work)
                try:
                    self._load(item)
                except StylecloakError as exc:
                    outcomes[index] = self._failed(item, exc)
                    continue
                groups.setdefault(self._group_key(item), _Group()).items.append(item)
            for group in groups.values():
                for item, outcome in zip(group.items, self._run_group(group.items), strict=True):
                    outcomes[item.index] = outcome
            return [outcome or WorkResult(error=ServerError("no outcome")) for outcome in outcomes]

    def _load(self, item: _Item) -> None:
        work = item.work
        if work.job_id is not None:
            if self.board.cancelled(work.job_id):
                raise JobCancelledError(f"job {work.job_id} was cancelled")
            record, item.data = self.board.input(work.job_id)
            item.sha256 = record.input_sha256
        elif work.data is not None:
            item.data = work.data
            item.sha256 = hashlib.sha256(work.data).hexdigest()
        else:
            raise ServerError("a work item with neither bytes nor a job")
        item.size = probe_size(item.data)

    @staticmethod
    def _group_key(item: _Item) -> tuple[Any, ...]:
        """Which items one ``cloak_many`` call can take: those sharing options apart from the artist and
        target style. The engine buckets a call's images by working grid and batches each bucket up to
        ``max_batch_size``; the one rule it cannot see is memory across a call, because it decodes all
        of a call's images first: a large image therefore gets a call of its own."""
        shared = item.work.options.model_dump_json(exclude={"artist_id", "target_style"})
        large = item.size is not None and item.size[0] * item.size[1] > BATCH_MAX_PIXELS
        return (("alone", item.index) if large else "batch", shared)

    def _run_group(self, items: list[_Item]) -> list[WorkResult]:
        options = items[0].work.options
        started = time.perf_counter()
        steps = 0
        rights = None
        try:
            rights = self._rights(options)
            overrides = options.overrides()
            steps = self.cloaker.params(
                intensity=options.intensity,
                quality=options.quality,
                **{key: value for key, value in overrides.items() if key != "force"},
            ).steps
            for item in items:
                if item.work.job_id is not None:
                    self.board.progress(item.work.job_id, 0, steps)
            results: list[CloakResult | StylecloakError] = self.cloaker.cloak_many(
                [item.data for item in items],
                artist_ids=[item.work.options.artist_id for item in items],
                target_styles=[item.work.options.target_style for item in items],
                intensity=options.intensity,
                quality=options.quality,
                progress=_GroupProgress(self.board, items, steps),
                # @serve.batch hands over at most this many; the engine must not split them again.
                max_batch=self.config.worker.max_batch_size,
                **overrides,
            )
        except StylecloakError as exc:
            results = [exc] * len(items)
        except Exception as exc:  # an engine bug or a device failure: every item gets a typed error
            log.exception("cloak_many failed for a group of %d", len(items))
            text = f"{type(exc).__name__}: {exc}"
            if any(marker in text for marker in FATAL_MARKERS):
                self.fatal = text
            error = ServerError("the cloak failed on the worker", detail=type(exc).__name__)
            results = [error] * len(items)
        seconds = time.perf_counter() - started
        self.metrics.batch(len(items), steps, seconds)
        outcomes = []
        if rights is not None:
            # The step after the engine: the signals go into each finished file.
            results = [self._signed(result, rights) for result in results]
        for item, result in zip(items, results, strict=True):
            if isinstance(result, CloakResult):
                outcomes.append(self._succeeded(item, result))
                self.metrics.cloak(seconds / len(items), "ok")
            else:
                outcomes.append(self._failed(item, result))
                self.metrics.cloak(seconds / len(items), result.code)
        return outcomes

    def _succeeded(self, item: _Item, result: CloakResult) -> WorkResult:
        job_id = item.work.job_id
        if job_id is None:
            report = encode_report(result.report)
            return WorkResult(data=result.data, content_type=result.content_type, report=report, sha256=item.sha256)
        if self.board.cancelled(job_id):
            return WorkResult(error=JobCancelledError(f"job {job_id} was cancelled"), sha256=item.sha256)
        self.board.succeed(job_id, item.sha256, result)
        return WorkResult(stored=True, sha256=item.sha256)

    def _failed(self, item: _Item, error: StylecloakError) -> WorkResult:
        job_id = item.work.job_id
        if job_id is not None and not isinstance(error, JobCancelledError):
            try:
                self.board.fail(job_id, error)
            except StylecloakError:
                log.exception("could not record the failure of job %s", job_id)
                return WorkResult(error=error, sha256=item.sha256)
            return WorkResult(error=error, sha256=item.sha256, stored=True)
        return WorkResult(error=error, sha256=item.sha256)

    @staticmethod
    def _signed(result: CloakResult | StylecloakError, rights: Any) -> CloakResult | StylecloakError:
        if not isinstance(result, CloakResult):
            return result
        from stylecloak.rights.signals import signed

        try:
            return signed(result, rights)
        except StylecloakError as exc:
            return exc

    def _rights(self, options: CloakOptions) -> Any:
        if options.rights is None:
            return None
        try:
            from stylecloak.rights import RightsPolicy
        except ImportError as exc:
            raise ConfigurationError("this server cannot write rights signals (stylecloak.rights missing)") from exc
        caller = {key: value for key, value in options.rights.items() if not key.startswith(SIGNING_PREFIX)}
        return RightsPolicy.from_mapping({**self._signing, **caller})


class _GroupProgress:
    """Maps ``cloak_many``'s progress over the whole group onto each job's own steps.

    Today ``cloak_many`` runs its images one after another and counts ``index * steps + done`` over
    ``count * steps``; a truly batched engine would count ``done`` over ``steps`` for all at once.
    Both are recognised. Cancelling a job stops its own image at the next step.
    """

    def __init__(self, board: JobBoard, items: list[_Item], steps: int) -> None:
        self.board = board
        self.items = items
        self.steps = steps

    def __call__(self, done: int, total: int) -> None:
        count = len(self.items)
        now = time.monotonic()
        if count > 1 and total == count * self.steps:
            index = min(count - 1, max(0, done - 1) // self.steps)
            self._report(self.items[index], done - index * self.steps, now)
            for earlier in self.items[:index]:
                self._report(earlier, self.steps, now)
            if self.items[index].cancelled:
                raise JobCancelledError("job cancelled")
            return
        own = round(done * self.steps / total) if total else 0
        for item in self.items:
            self._report(item, own, now)
        if all(item.cancelled for item in self.items):
            raise JobCancelledError("job cancelled")

    def _report(self, item: _Item, done: int, now: float) -> None:
        job_id = item.work.job_id
        if job_id is None or item.cancelled:
            return
        if now - item.last_write < PROGRESS_EVERY_S and done < self.steps:
            return
        item.last_write = now
        item.cancelled = self.board.cancelled(job_id)
        if not item.cancelled:
            self.board.progress(job_id, done, self.steps)


def _server_signing() -> dict[str, Any]:
    """The C2PA credentials this server signs with (``STYLECLOAK_RIGHTS_C2PA_*``), if any."""
    try:
        from stylecloak.rights import RightsPolicy
    except ImportError:
        return {}
    try:
        policy = RightsPolicy.from_env()
    except StylecloakError:
        log.exception("ignoring invalid STYLECLOAK_RIGHTS_* settings on this worker")
        return {}
    return {
        key: value for key, value in policy.model_dump().items() if key.startswith(SIGNING_PREFIX) and value is not None
    }
