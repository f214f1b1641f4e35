"""boto3 is imported only when a worker or handler is built, and its absence names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("boto3")

from stylecloak.cli import main


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_importing_the_adapters_imports_neither_boto3_nor_prometheus() -> None:
    done = run_python(
        "import sys\n"
        "import stylecloak.adapters.s3, stylecloak.adapters.s3.worker, stylecloak.adapters.s3.aws_lambda\n"
        "import stylecloak.cli.worker\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'prometheus_client', 'torch') if m in sys.modules))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_missing_boto3_names_the_s3_extra() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['boto3'] = None  # as if it were not installed\n"
        "from stylecloak.adapters.s3.aws import make_clients\n"
        "from stylecloak.adapters.s3.config import S3Config\n"
        "from stylecloak.errors import MissingExtraError\n"
        "config = S3Config(routes=[{'source': 's3://art/in/', 'destination': 's3://art/out/'}])\n"
        "try:\n"
        "    make_clients(config)\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.package, exc.extra, exc.message)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "boto3 s3 boto3 is not installed; install it with: pip install 'stylecloak[s3]'"


def test_worker_command_without_a_queue_or_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker"]) == 2
    assert "s3" in capsys.readouterr().out
    assert main(["worker", "s3", "--source", "s3://art/in/", "--destination", "s3://art/out/"]) == 1
    assert "no queue" in capsys.readouterr().err
    overlapping = ["--queue", "http://q", "--source", "s3://art/in/", "--destination", "s3://art/in/x/"]
    assert main(["worker", "s3", *overlapping]) == 1
    assert "overlaps source" in capsys.readouterr().err
