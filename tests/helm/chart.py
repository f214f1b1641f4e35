"""Rendering the chart offline (helm-python-sdk embeds Helm's Go SDK; no helm binary, no cluster).

Every helper renders through the same path ``helm install`` takes: the chart's defaults coalesced
with the given values, checked against values.schema.json, then the templates.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, SHARED

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed (the dev extra)")

CHART = ROOT / "helm" / "stylecloak"
PRODUCTION = ROOT / "helm" / "examples" / "production-gpu.yaml"
# The RayService CRD shipped by the KubeRay operator's chart (see ../shared/k8s/README.md).
CRD = SHARED / "k8s" / "ray.io_rayservices.yaml"
RELEASE = "stylecloak"
NAMESPACE = "art"
# Kubernetes versions the manifests are validated against: the chart's minimum (Chart.yaml
# kubeVersion) and a current one; kubernetes-validate 1.37 ships schemas for 1.25 to 1.37.
KUBE_VERSIONS = ("1.28", "1.33")


@functools.cache
def _chart() -> Any:
    return helm.Chart.load(CHART)


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path → rendered text, as ``helm template stylecloak CHART -n art -f values`` gives."""
    rendered: dict[str, str] = _chart().render(
        copy.deepcopy(values or {}), name=RELEASE, namespace=NAMESPACE, is_install=True
    )
    return rendered


def manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object the release would create (hooks included, NOTES.txt not)."""
    docs: list[dict[str, Any]] = []
    for path, text in sorted(render(values).items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def notes(values: dict[str, Any] | None = None) -> str:
    return next(text for path, text in render(values).items() if path.endswith("NOTES.txt"))


def one(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} named *{suffix}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def serve_document(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The RayService's serveConfigV2, parsed."""
    document: dict[str, Any] = yaml.safe_load(one(docs, "RayService")["spec"]["serveConfigV2"])
    return document


def ray_pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod specs of the Ray head and of the GPU worker group."""
    cluster = one(docs, "RayService")["spec"]["rayClusterConfig"]
    return {
        "head": cluster["headGroupSpec"]["template"]["spec"],
        "worker": cluster["workerGroupSpecs"][0]["template"]["spec"],
    }


def example(path: Path = PRODUCTION) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(path.read_text())
    return values


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` deep-merged in (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, scalar) in a parsed manifest."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))
    else:
        yield path, node


@functools.cache
def generator() -> ModuleType:
    """``helm/generate.py``, the script that keeps the chart in step with the typed models."""
    spec = importlib.util.spec_from_file_location("stylecloak_helm_generate", ROOT / "helm" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def rayservice_schema() -> dict[str, Any]:
    """The CRD's ``openAPIV3Schema`` for ray.io/v1, made strict like ``kubectl apply --validate=strict``.

    A CRD schema lists known fields but lets unknown ones through (the API server prunes them
    silently), so a misspelt field would pass. Every object that names its properties (and does not
    preserve unknown fields) is closed here, so a typo fails the test instead of vanishing on apply.
    """
    if not CRD.is_file():
        pytest.skip(f"the RayService CRD is not at {CRD} (see ../shared/k8s/README.md)")
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = copy.deepcopy(version["schema"]["openAPIV3Schema"])

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
