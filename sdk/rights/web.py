"""The HTTP and HTML forms of the reservation: response headers, meta tags, ``/.well-known/tdmrep.json``.

- ``X-Robots-Tag: noai, noimageai`` and ``<meta name="robots" content="noai, noimageai">``: the opt-out
  directives some crawlers and dataset tools honour (DeviantArt's convention, read e.g. by img2dataset).
- TDMRep (W3C community group report, the EU DSM directive's Article 4 opt-out in machine-readable
  form): ``tdm-reservation: 1`` with an optional ``tdm-policy`` URL, as headers, as HTML meta tags, or
  per path in ``/.well-known/tdmrep.json``.

These are strings only; the middleware, Serve and gallery code put them on their responses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from typing import Any

from stylecloak.rights.policy import RightsPolicy

NOAI = "noai, noimageai"
TDMREP_PATH = "/.well-known/tdmrep.json"
TDMREP_CONTENT_TYPE = "application/json"


def http_headers(policy: RightsPolicy | None = None) -> dict[str, str]:
    """Headers for a response that delivers a protected image (or a page of them).

    A policy that reserves nothing still says so (``tdm-reservation: 0``) and sends no ``noai``.
    """
    policy = policy or RightsPolicy()
    if not policy.reserves:
        return {"tdm-reservation": "0"}
    headers = {"X-Robots-Tag": NOAI, "tdm-reservation": "1"}
    if policy.tdm_policy_url:
        headers["tdm-policy"] = policy.tdm_policy_url
    return headers


def robots_meta_tag(policy: RightsPolicy | None = None) -> str:
    """``<meta name="robots" content="noai, noimageai">`` (empty when the policy reserves nothing)."""
    policy = policy or RightsPolicy()
    return f'<meta name="robots" content="{NOAI}">' if policy.reserves else ""


def html_meta_tags(policy: RightsPolicy | None = None) -> str:
    """Every meta tag for a page's ``<head>``: robots ``noai`` and the TDMRep reservation and policy."""
    policy = policy or RightsPolicy()
    tags = [robots_meta_tag(policy)] if policy.reserves else []
    tags.append(f'<meta name="tdm-reservation" content="{1 if policy.reserves else 0}">')
    if policy.reserves and policy.tdm_policy_url:
        tags.append(f'<meta name="tdm-policy" content="{escape(policy.tdm_policy_url, quote=True)}">')
    return "\n".join(tags)


def tdmrep_document(policy: RightsPolicy | None = None, locations: Iterable[str] = ("/*",)) -> list[dict[str, Any]]:
    """The ``/.well-known/tdmrep.json`` rules: one per location pattern (``/*`` is the whole site)."""
    policy = policy or RightsPolicy()
    rules: list[dict[str, Any]] = []
    for location in locations:
        rule: dict[str, Any] = {"location": location, "tdm-reservation": 1 if policy.reserves else 0}
        if policy.reserves and policy.tdm_policy_url:
            rule["tdm-policy"] = policy.tdm_policy_url
        rules.append(rule)
    return rules


def tdmrep_json(policy: RightsPolicy | None = None, locations: Iterable[str] = ("/*",)) -> str:
    """:func:`tdmrep_document` serialised, ready to serve at :data:`TDMREP_PATH`."""
    return json.dumps(tdmrep_document(policy, locations), indent=2) + "\n"
