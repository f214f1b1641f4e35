"""Probe a running Ray cluster from outside, as an unauthenticated client would: run as a script.

    python -m tests.security.ray_probe ports PORT...      # what each port answers without a token
    python -m tests.security.ray_probe kv GCS_PORT        # every key and value of Ray's store (needs the token)

A separate process on purpose: importing Ray fixes its authentication mode for the process, and the
test process must not decide that for the Ray cluster other tests start. Prints one JSON document.
"""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import re
import sys
from typing import Any

# Only methods that read: if authentication were broken, probing must still change nothing.
READ_ONLY = re.compile(r"(Get|List|Check|InternalKV(Get|Keys|Exists|MultiGet)|Health)")
# Services without Python stubs here (the raylet's object manager) or whose every method acts
# (the Serve replicas' inter-deployment server): called with an empty, meaningless request.
EXTRA = (
    "/ray.rpc.ObjectManagerService/Pull",
    "/ray.rpc.ObjectManagerService/Push",
    "/ray.serve.ASGIService/HandleRequest",
)


def grpc_methods() -> list[str]:
    import ray.core.generated as generated

    modules = []
    for info in pkgutil.iter_modules(generated.__path__):
        if info.name.endswith("_pb2"):
            try:
                modules.append(importlib.import_module(f"ray.core.generated.{info.name}"))
            except Exception:  # a module whose own imports are missing here: its services are not probed
                continue
    methods = [
        f"/{service.full_name}/{method.name}"
        for module in modules
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if READ_ONLY.match(method.name) and not method.client_streaming and not method.server_streaming
    ]
    return [*methods, *EXTRA]


def http_probe(port: int) -> dict[str, Any] | None:
    import httpx

    try:
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=3)
    except httpx.HTTPError:
        return None
    return {"status": response.status_code, "content_type": response.headers.get("content-type", "")}


def grpc_probe(port: int, methods: list[str]) -> dict[str, list[str]]:
    import grpc

    codes: dict[str, list[str]] = {}
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for path in methods:
            call = channel.unary_unary(path, request_serializer=bytes, response_deserializer=bytes)
            try:
                call(b"", timeout=3)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            codes.setdefault(code, []).append(path)
    return codes


def ports(numbers: list[int]) -> dict[str, Any]:
    methods = grpc_methods()
    found: dict[str, Any] = {}
    for port in numbers:
        http = http_probe(port)
        found[str(port)] = {"http": http} if http is not None else {"grpc": grpc_probe(port, methods)}
    return found


def kv(gcs_port: int) -> dict[str, Any]:
    from ray._raylet import GcsClient

    client = GcsClient(address=f"127.0.0.1:{gcs_port}")
    entries = []
    for namespace in (None, b"serve", b"session", b"dashboard", b"fun", b"jobs"):
        for key in client.internal_kv_keys(b"", namespace):
            value = client.internal_kv_get(key, namespace) or b""
            entries.append([base64.b64encode(key).decode(), base64.b64encode(value).decode()])
    return {"entries": entries}


def connect(gcs_port: int) -> dict[str, Any]:
    """Whether a Ray client (driver) can join the cluster with the credentials of this environment."""
    import ray

    try:
        ray.init(address=f"127.0.0.1:{gcs_port}", log_to_driver=False, configure_logging=False)
    except Exception as exc:
        chain, cause = [], exc
        while cause is not None:
            chain.append(f"{type(cause).__name__}: {cause}"[:4000])
            cause = cause.__cause__ or cause.__context__
        return {"joined": False, "error": " <- ".join(chain)}
    nodes = len(ray.nodes())
    ray.shutdown()
    return {"joined": True, "nodes": nodes}


def main(argv: list[str]) -> int:
    command, *rest = argv
    numbers = [int(item) for item in rest]
    result = {"ports": lambda: ports(numbers), "kv": lambda: kv(numbers[0]), "connect": lambda: connect(numbers[0])}
    print(json.dumps(result[command]()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
