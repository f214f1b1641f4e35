"""Machine-readable "do not train" signals: IPTC/PLUS XMP, C2PA, HTTP headers and meta tags.

A cloak protects an artwork from those who ignore the artist's wishes; these signals state the wishes
in every standard form that compliant crawlers and dataset builders read:

    from stylecloak.rights import RightsPolicy, apply, http_headers

    policy = RightsPolicy()                      # every use notAllowed
    data, summary = apply(data, "JPEG", policy)  # XMP, then C2PA when signing credentials are set
    headers = http_headers(policy)               # {"X-Robots-Tag": "noai, noimageai", "tdm-reservation": "1"}

``import stylecloak.rights`` never imports c2pa or cryptography; signing and reading manifests import
``c2pa`` when called (``pip install 'stylecloak[c2pa]'``).
"""

from __future__ import annotations

from stylecloak.rights.inspection import InspectReport, inspect
from stylecloak.rights.policy import (
    CAWG_ENTRIES,
    CAWG_LABEL,
    DMI_PROHIBITED_AIMLTRAINING,
    ENV_PREFIX,
    RightsPolicy,
    Use,
)
from stylecloak.rights.provenance import C2paState
from stylecloak.rights.signals import apply
from stylecloak.rights.web import (
    NOAI,
    TDMREP_PATH,
    html_meta_tags,
    http_headers,
    robots_meta_tag,
    tdmrep_document,
    tdmrep_json,
)

__all__ = [
    "CAWG_ENTRIES",
    "CAWG_LABEL",
    "DMI_PROHIBITED_AIMLTRAINING",
    "ENV_PREFIX",
    "NOAI",
    "TDMREP_PATH",
    "C2paState",
    "InspectReport",
    "RightsPolicy",
    "Use",
    "apply",
    "html_meta_tags",
    "http_headers",
    "inspect",
    "robots_meta_tag",
    "tdmrep_document",
    "tdmrep_json",
]
