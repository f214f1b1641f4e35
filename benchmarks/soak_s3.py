"""Soak the S3 event pipeline: many uploads, random faults, two worker processes, then reconcile.

    .venv/bin/python benchmarks/soak_s3.py                 # 300 uploads (the default)
    .venv/bin/python benchmarks/soak_s3.py --uploads 50    # a quick run

What runs: moto's standalone server (S3 + SQS, spoken to over HTTP with boto3) with a versioned
bucket whose ``incoming/`` prefix notifies an SQS queue; two ``stylecloak worker s3`` processes
that cloak into ``public/`` and move originals to ``private/``; a fault proxy in front of S3.

Faults, at random: a worker is killed (SIGKILL) every ``--kill-every`` seconds on average and a new
one started; output and archive PUTs fail with a 503 (``--put-fault-rate``, and the workers make one
attempt per call so each fault reaches them); duplicate events are sent for earlier uploads; some
uploads are multipart (moto then emits a second ``ObjectCreated:Put``); some uploads are invalid.

Reconciliation, read back from S3 and the dead-letter queue: every valid upload has exactly one
cloaked output (versions of its output key: more than one is a duplicate write), every original is
intact (archived for valid uploads, in place for invalid ones), every invalid upload is in the DLQ
with a reason, and ``lost`` counts everything else. Exit status 1 if anything is lost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylecloak.client import Client  # noqa: E402
from stylecloak.marker import is_cloaked  # noqa: E402
from stylecloak.settings import Settings  # noqa: E402

from tests.adapters.s3.harness import (  # noqa: E402
    MARKER_KEY,
    FaultProxy,
    MotoServer,
    Stack,
    WorkerProcess,
    create_stack,
    worker_env,
)
from tests.conftest import encoded, painting  # noqa: E402

NAMES = ["study", "nocturne", "portrait of ada", "étude", "風景", "sketch+notes", "ink wash"]


@dataclass
class Upload:
    name: str  # relative to incoming/
    data: bytes
    valid: bool
    kind: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_uploads(count: int, invalid_fraction: float, rng: random.Random) -> list[Upload]:
    uploads: list[Upload] = []
    for index in range(count):
        stem = f"{index:04d} {rng.choice(NAMES)}"
        width, height = rng.choice([(160, 128), (192, 160), (224, 176)])
        image = painting(width, height, seed=index)
        if rng.random() < invalid_fraction:
            kind = rng.choice(["corrupt", "truncated", "tiny", "text"])
            if kind == "corrupt":
                data, name = rng.randbytes(2048), f"{stem}.png"
            elif kind == "truncated":
                jpeg = encoded(image, "JPEG", quality=90)
                data, name = jpeg[: len(jpeg) // 2], f"{stem}.jpg"
            elif kind == "tiny":
                data, name = encoded(painting(32, 24, seed=index)), f"{stem}.png"
            else:
                data, name = b"just some text, not an image", f"{stem}.txt"
            uploads.append(Upload(f"u{index % 7}/{name}", data, False, kind))
        elif rng.random() < 0.5:
            uploads.append(Upload(f"u{index % 7}/{stem}.png", encoded(image), True, "png"))
        else:
            kind = "multipart" if rng.random() < 0.15 else "jpeg"
            uploads.append(Upload(f"u{index % 7}/{stem}.jpg", encoded(image, "JPEG", quality=92), True, kind))
    return uploads


CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".txt": "text/plain"}


def put(stack: Stack, upload: Upload) -> None:
    key = stack.source_prefix + upload.name
    content_type = CONTENT_TYPES[Path(upload.name).suffix]
    if upload.kind == "multipart":
        started = stack.s3.create_multipart_upload(Bucket=stack.bucket, Key=key, ContentType=content_type)
        part = stack.s3.upload_part(
            Bucket=stack.bucket, Key=key, UploadId=started["UploadId"], PartNumber=1, Body=upload.data
        )
        stack.s3.complete_multipart_upload(
            Bucket=stack.bucket,
            Key=key,
            UploadId=started["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
    else:
        stack.s3.put_object(
            Bucket=stack.bucket, Key=key, Body=upload.data, ContentType=content_type, Metadata={"artist-id": "soak"}
        )


def duplicate_event(stack: Stack, upload: Upload) -> dict[str, object]:
    """The record AWS would deliver a second time (key URL-encoded as S3 does)."""
    key = stack.source_prefix + upload.name
    head = stack.head(key) or stack.head(stack.archive_prefix + upload.name) or {}
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.bucket},
                    "object": {
                        "key": quote_plus(key),
                        "size": len(upload.data),
                        "eTag": str(head.get("ETag", "")).strip('"'),
                    },
                },
            }
        ]
    }


class Workers:
    """Keeps ``count`` worker processes running; kills and replaces them on request."""

    def __init__(self, count: int, args: list[str], env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.processes = [WorkerProcess(args, env) for _ in range(count)]
        self.killed = 0
        self.stopped = 0

    def replace(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.processes))
        victim = self.processes[index]
        if rng.random() < 0.8:
            victim.signal(signal.SIGKILL)
            self.killed += 1
        else:
            victim.signal(signal.SIGTERM)  # a graceful stop (a deploy, a scale-down)
            self.stopped += 1
        try:
            victim.wait(timeout=60)
        finally:
            victim.close()
        self.processes[index] = WorkerProcess(self.args, self.env)

    def stop(self) -> None:
        for process in self.processes:
            process.signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            finally:
                process.close()


@dataclass
class Reconciliation:
    uploads: int = 0
    valid: int = 0
    invalid: int = 0
    outputs: int = 0
    duplicates_written: int = 0
    originals_intact: int = 0
    archived: int = 0
    dlq_entries: int = 0
    dlq_invalid: int = 0
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    unexpected_dlq: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def reconcile(stack: Stack, uploads: list[Upload]) -> Reconciliation:
    """Read everything back: outputs, their write counts, originals, dead letters."""
    letters = stack.dead_letters()
    reason_of: dict[str, str] = {}
    for letter in letters:
        reason_of.setdefault((letter.get("event") or {}).get("key") or "", letter["reason"])
    result = Reconciliation(uploads=len(uploads), dlq_entries=len(letters))

    def intact_at(*keys: str) -> str | None:
        for key in keys:
            data = stack.read(key)
            if data is not None and hashlib.sha256(data).hexdigest() == upload.sha256:
                return key
        return None

    for upload in uploads:
        source = stack.source_prefix + upload.name
        output_key = stack.public_prefix + upload.name
        if upload.valid:
            result.valid += 1
            output = stack.read(output_key)
            has_output = output is not None and is_cloaked(output, key=MARKER_KEY)
            result.outputs += has_output
            result.duplicates_written += max(0, stack.versions(output_key) - 1)
            where = intact_at(stack.archive_prefix + upload.name, source)
            result.originals_intact += where is not None
            result.archived += where == stack.archive_prefix + upload.name
            if source in reason_of:
                result.unexpected_dlq.append(f"{upload.name}: {reason_of[source]}")
            if not has_output or where is None:
                result.lost.append(upload.name)
        else:
            result.invalid += 1
            where = intact_at(source)
            result.originals_intact += where is not None
            if source in reason_of:
                result.dlq_invalid += 1
                result.dlq_reasons[reason_of[source]] += 1
            if source not in reason_of or where is None or stack.head(output_key) is not None:
                result.lost.append(upload.name)
    return result


def baseline_seconds(settings: Settings, steps: int) -> float:
    """Median in-process cloak time of one soak-sized image (and it fills the style cache)."""
    with Client(settings) as client:
        client.cloak(encoded(painting(192, 160, seed=999)), steps=steps)
        times = []
        for seed in range(5):
            started = time.perf_counter()
            client.cloak(encoded(painting(192, 160, seed=1000 + seed)), steps=steps)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--invalid-fraction", type=float, default=0.08)
    parser.add_argument("--duplicate-fraction", type=float, default=0.1)
    parser.add_argument("--put-fault-rate", type=float, default=0.08)
    parser.add_argument("--kill-every", type=float, default=20.0, help="Mean seconds between worker kills.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--visibility-timeout", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    fault_rng = random.Random(args.seed + 1)
    fault_lock = threading.Lock()

    models = os.environ.get("STYLECLOAK_MODELS_DIR") or str(ROOT.parent / "shared" / "models")
    cache = Path(tempfile.mkdtemp(prefix="soak-s3-cache-"))
    settings = Settings(
        models_dir=Path(models),
        cache_dir=cache,
        quality="fast",
        working_resolution=128,
        render_cap=128,
        mimic_resolutions=(128, 192),
        budget="ssim",
        threads=1,
    )
    print(f"soak: measuring the in-process baseline ({args.steps} steps)...", file=sys.stderr)
    baseline = baseline_seconds(settings, args.steps)

    def should_fail(method: str, path: str) -> bool:
        if method != "PUT" or not any(f"/{prefix}" in path for prefix in ("public/", "private/")):
            return False
        with fault_lock:
            return fault_rng.random() < args.put_fault_rate

    server = MotoServer().start()
    proxy = FaultProxy(server.url, should_fail).start()
    stack = create_stack(server.url, versioning=True, visibility_timeout=args.visibility_timeout)
    route = stack.route(original="archive", archive=f"s3://{stack.bucket}/{stack.archive_prefix}", steps=args.steps)
    config_path = cache / "s3.json"
    config_path.write_text(json.dumps({"routes": [route], "dlq_url": stack.dlq_url}))
    worker_args = [
        "--queue",
        stack.queue_url,
        "--config",
        str(config_path),
        "--s3-endpoint-url",
        proxy.url,
        "--sqs-endpoint-url",
        server.url,
        "--max-attempts",
        "1",
        "--visibility-timeout",
        str(args.visibility_timeout),
        "--wait-time",
        "1",
        "--retry-delay",
        "0.5",
        "--max-receives",
        "10",
        "--shutdown-grace",
        "5",
    ]
    env = worker_env(models, cache)

    uploads = make_uploads(args.uploads, args.invalid_fraction, rng)
    duplicates_sent = 0
    started = time.perf_counter()
    workers = Workers(args.workers, worker_args, env)
    try:
        next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * args.kill_every
        for index, upload in enumerate(uploads):
            put(stack, upload)
            if index and rng.random() < args.duplicate_fraction:
                stack.send(duplicate_event(stack, uploads[rng.randrange(index)]))
                duplicates_sent += 1
            time.sleep(rng.uniform(0, 0.05))
            if time.monotonic() > next_kill:
                workers.replace(rng)
                next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * args.kill_every
        print(f"soak: {len(uploads)} uploaded; waiting for the workers...", file=sys.stderr)
        deadline = time.monotonic() + args.timeout
        quiet = 0
        while quiet < 3:
            if time.monotonic() > deadline:
                print("soak: timed out waiting for the queue to drain", file=sys.stderr)
                break
            if time.monotonic() > next_kill:
                workers.replace(rng)
                next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * args.kill_every
            quiet = quiet + 1 if stack.queue_depth() == 0 else 0
            time.sleep(1)
        elapsed = time.perf_counter() - started
    finally:
        workers.stop()
        proxy.stop()
    summary = reconcile(stack, uploads)
    server.stop()

    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(summary.dlq_reasons.items()))
    print(
        f"soak: uploads {summary.uploads} ({summary.valid} valid, {summary.invalid} invalid), "
        f"outputs {summary.outputs}/{summary.valid}, duplicates written {summary.duplicates_written}, "
        f"originals intact {summary.originals_intact}/{summary.uploads} ({summary.archived} archived), "
        f"DLQ entries {summary.dlq_entries} ({summary.dlq_invalid}/{summary.invalid} invalid uploads, reasons: "
        f"{reasons}), unexpected DLQ {len(summary.unexpected_dlq)}, lost {len(summary.lost)}"
    )
    print(
        f"soak: faults: {workers.killed} workers killed (SIGKILL), {workers.stopped} stopped (SIGTERM), "
        f"{len(proxy.failed)} S3 PUTs failed (503), {duplicates_sent} duplicate events sent, "
        f"{sum(u.kind == 'multipart' for u in uploads)} multipart uploads"
    )
    throughput = summary.valid / elapsed
    ideal = args.workers / baseline
    print(
        f"soak: {elapsed:.0f}s, {throughput:.2f} valid uploads/s with {args.workers} workers; in-process "
        f"baseline {baseline:.2f}s per cloak, so {ideal:.2f}/s for {args.workers} ideal workers; ratio "
        f"{throughput / ideal:.2f} (both workers share one 2-core CPU; kills and retries included)"
    )
    for line in summary.unexpected_dlq + [f"lost: {name}" for name in summary.lost]:
        print(f"soak:   {line}")
    return 1 if summary.lost else 0


if __name__ == "__main__":
    sys.exit(main())
