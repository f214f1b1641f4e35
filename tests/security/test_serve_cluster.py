"""`stylecloak serve` as an attacker on the same machine or network finds it (issue 17, items 1 and 6).

One real `stylecloak serve` process (Ray, Serve, the app) for the module. Checked from outside:
which ports listen where (``ss -ltnp``), what each Ray port answers a client without Ray's token,
whether a Ray client without the token can join, that Ray's store never holds the API token, and
that slow clients get a 408 (slow body) or cannot block others (slow headers).

Nothing here imports Ray in the test process (the probes run as scripts: tests/security/ray_probe.py),
so the Ray clusters other tests start keep the authentication mode their own set-up chose.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, encoded, fast_env, painting
from tests.security.rawhttp import exchange

if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
    pytest.skip("the serve extra is not installed", allow_module_level=True)
if subprocess.run(["ss", "-V"], capture_output=True).returncode != 0:  # pragma: no cover
    pytest.skip("ss (iproute2) is not available", allow_module_level=True)

pytestmark = pytest.mark.timeout(900)
STYLECLOAK = Path(sys.executable).with_name("stylecloak")
LOOPBACK = ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]")
API_TOKEN = "api-" + "7" * 40
# Start-up of Ray and the app on a loaded 2-core machine takes a minute or more; CI can be slower.
START_S = 480


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    ray_token: str
    output: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, shared_models: Path, session_cache: Path) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("home")
    token_file = home / "api-token"
    token_file.write_text(API_TOKEN + "\n")
    ray_token = "ray-" + "5" * 40
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STYLECLOAK_", "RAY_"))}
    env.update(fast_env(shared_models, session_cache))
    # The test knows Ray's token only to read Ray's store as its owner would; serve would make one.
    env.update({"HOME": str(home), "RAY_AUTH_TOKEN": ray_token, "PYTHONUNBUFFERED": "1"})
    port = free_port()
    command = [str(STYLECLOAK), "serve", "--port", str(port), "--cpus", "2", "--token-file", str(token_file)]
    process = subprocess.Popen(
        command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "stylecloak serving on" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(START_S):
            pytest.fail("stylecloak serve did not start:\n" + "".join(output[-40:]))
        yield Served(process, port, ray_token, output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    process: str
    pid: int


def listeners(served: Served) -> list[Listener]:
    """Every TCP port the serve process and its descendants listen on (``ss -ltnpH``)."""
    tree = descendants(served.process.pid)
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        match = re.search(r"\s(\S+):(\d+)\s+\S+\s+users:\(\(\"([^\"]+)\",pid=(\d+)", line)
        if match and int(match.group(4)) in tree:
            found.append(Listener(match.group(1), int(match.group(2)), match.group(3), int(match.group(4))))
    return found


def probe(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.security.ray_probe", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


def probe_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    # The cluster's node address is the loopback; a client must look for it there.
    env.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **extra})
    return env


def test_only_the_http_api_listens_beyond_the_loopback(served: Served) -> None:
    found = listeners(served)
    assert any(item.port == served.port for item in found), "the API port is not in the process tree"
    assert len(found) > 5, f"too few Ray ports found to be a real check: {found}"
    for item in found:
        if item.port == served.port or item.host in LOOPBACK:
            continue
        # Ray Serve binds each replica's inter-deployment gRPC server to [::] and offers no setting to
        # change it (ray/serve/_private/replica.py); it is token-checked, which the next test proves.
        assert item.process.startswith("ray::ServeRepli"), f"{item} listens beyond the loopback"


def test_no_ray_port_answers_a_client_without_the_token(served: Served) -> None:
    found = {item.port: item for item in listeners(served) if item.port != served.port}
    answers = probe("ports", *map(str, found), env=probe_env())
    for port, answer in answers.items():
        item = found[int(port)]
        if "http" in answer:
            http = answer["http"]
            # Prometheus exporters (metrics only, loopback only) answer GET; every Ray API asks for the token.
            metrics = http["status"] == 200 and http["content_type"].startswith("text/plain; version=0.0.4")
            assert http["status"] in (401, 403) or (metrics and item.host in LOOPBACK), f"{item}: {http}"
        else:
            codes = answer["grpc"]
            assert "OK" not in codes, f"{item} answered {codes['OK'][:3]} without a token"
            assert "UNAUTHENTICATED" in codes, f"{item} never asked for a token: {sorted(codes)}"


def test_a_ray_client_without_the_token_cannot_join(served: Served, tmp_path: Path) -> None:
    gcs = next(item.port for item in listeners(served) if item.process == "gcs_server")
    # A fresh HOME: no ~/.ray/auth_token to fall back on.
    attempts = {
        "no token": {"RAY_AUTH_MODE": "disabled"},
        "wrong token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "ray-" + "0" * 40},
    }
    for name, credentials in attempts.items():
        answer = probe("connect", str(gcs), env=probe_env(HOME=str(tmp_path), **credentials))
        assert answer["joined"] is False, f"joined with {name}"
        assert "auth" in answer["error"].lower(), f"{name}: {answer['error']}"
    owner = probe("connect", str(gcs), env=probe_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=served.ray_token))
    assert owner["joined"] is True, owner  # the probe itself works: with the token it gets in


def test_rays_store_never_holds_the_api_token(served: Served) -> None:
    gcs = next(item.port for item in listeners(served) if item.process == "gcs_server")
    entries = probe("kv", str(gcs), env=probe_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=served.ray_token))["entries"]
    blobs = [base64.b64decode(key) + b"\0" + base64.b64decode(value) for key, value in entries]
    assert not any(API_TOKEN.encode() in blob for blob in blobs), "the API token is stored in plain text"
    # The deployment arguments are there, with the token's digest in its place.
    digest = hashlib.sha256(API_TOKEN.encode()).hexdigest().encode()
    assert any(digest in blob for blob in blobs), f"the app's arguments were not found in {len(blobs)} entries"


def test_the_api_answers_only_with_its_token(served: Served) -> None:
    assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
    upload = encoded(painting(96, 80, seed=31))
    query = {"steps": "2", "target_style": "hatching"}
    anonymous = httpx.post(f"{served.url}/v1/cloak", params=query, content=upload, timeout=60)
    assert anonymous.status_code == 401
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    answer = httpx.post(f"{served.url}/v1/cloak", params=query, content=upload, headers=headers, timeout=600)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    for bad in ({"lr": "inf"}, {"seed": "-1"}, {"seed": str(2**64)}, {"alpha": "1e308"}):
        refused = httpx.post(f"{served.url}/v1/cloak", params=bad, content=upload, headers=headers, timeout=60)
        assert refused.status_code == 400 and refused.json()["error"] == "configuration_error", bad
    missing = httpx.get(f"{served.url}/v1/jobs/{'a' * 32}%0A", headers=headers, timeout=60)
    assert missing.status_code == 404


def test_a_slow_body_gets_408_and_slow_headers_block_no_one(served: Served) -> None:
    # Headers in, then 4 of the 1000 promised bytes, then nothing: the ingress gives up after its
    # idle timeout (30 s by default) with a typed 408 instead of holding a replica slot for ever.
    trickle = (
        b"POST /v1/cloak HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_TOKEN.encode() + b"\r\n"
        b"Content-Length: 1000\r\n\r\nabcd"
    )
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=300) as sock:
        sock.sendall(trickle)
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 408"), head[:200]
    assert 25 < time.monotonic() - started < 240
    # Unfinished headers from many connections at once: others are still served at once.
    stalled = []
    for _ in range(32):
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
        sock.sendall(b"POST /v1/cloak HTTP/1.1\r\nHost: x\r\nContent-Le")
        stalled.append(sock)
    try:
        answer = exchange(served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=60)
        assert answer.status == 200 and answer.seconds < 30
    finally:
        for sock in stalled:
            sock.close()
