"""The rights step: write the policy's signals into an encoded image, pixels untouched.

Order matters: the XMP reservation goes in first (container-level, merged with the packet already
there), the C2PA manifest last, because its signature covers every other byte of the file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from stylecloak import xmp
from stylecloak.errors import UnsupportedImageError
from stylecloak.result import CloakResult
from stylecloak.rights import containers, provenance
from stylecloak.rights.policy import CAWG_LABEL, RightsPolicy
from stylecloak.rights.web import http_headers

PLUS = xmp.KNOWN_PREFIXES["plus"]
NO_CREDENTIALS = "not written (no signing credentials configured)"


def xmp_properties(policy: RightsPolicy) -> dict[str, xmp.XmpValue]:
    """The IPTC/PLUS properties the policy writes."""
    properties: dict[str, xmp.XmpValue] = {"DataMining": policy.plus_data_mining}
    if policy.constraints:
        properties["OtherConstraints"] = xmp.LangAlt(policy.constraints)
    return properties


def write_reservation(data: bytes, fmt: str, policy: RightsPolicy) -> tuple[bytes, str]:
    """``data`` with the PLUS reservation merged into its XMP, and a line saying what was done."""
    if not policy.xmp:
        return data, "not written (disabled by the policy)"
    fmt = containers.normalise_format(fmt)
    if fmt not in containers.WRITABLE:
        return data, (
            f"not written ({fmt}: XMP cannot be edited without rewriting the container; the C2PA manifest "
            "and the HTTP headers carry the reservation)"
        )
    try:
        merged = xmp.merge_properties(containers.read_xmp(data, fmt), PLUS, xmp_properties(policy))
        data = containers.write_xmp(data, fmt, merged)
    except UnsupportedImageError as exc:  # BigTIFF, a packet too big for one JPEG segment
        return data, f"not written ({exc.message})"
    line = f"plus:DataMining = {policy.plus_data_mining}"
    if policy.constraints:
        line += f"; plus:OtherConstraints = {policy.constraints!r}"
    return data, line


def signed(result: CloakResult, policy: RightsPolicy) -> CloakResult:
    """``result`` with ``policy``'s signals written into its file and its report: the step after the
    engine (the pixels are final; C2PA signing, where configured, is the very last write)."""
    data, info = apply(result.data, result.format, policy)
    return dataclasses.replace(result, data=data, report=result.report.model_copy(update={"rights": info}))


def apply(data: bytes, fmt: str, policy: RightsPolicy) -> tuple[bytes, dict[str, Any]]:
    """Write ``policy``'s machine-readable signals into ``data`` (an encoded ``fmt`` image).

    Returns the new bytes and a JSON-ready summary for ``CloakReport.rights``: which signals were
    written (``written``), a line per signal (``xmp``, ``c2pa``), the values, and the HTTP headers
    that should accompany the image when it is served (those are not in the file).
    """
    fmt = containers.normalise_format(fmt)
    written: list[str] = []
    data, xmp_line = write_reservation(data, fmt, policy)
    if not xmp_line.startswith("not written"):
        written.append("xmp")
    if policy.has_signing_credentials:
        data = provenance.sign(data, fmt, policy)
        entries = ", ".join(f"{entry}={use}" for entry, use in policy.training_mining.items())
        c2pa_line = f"signed ({policy.c2pa_alg}): {CAWG_LABEL} [{entries}], c2pa.actions [c2pa.edited]"
        written.append("c2pa")
    else:
        c2pa_line = NO_CREDENTIALS
    return data, {
        "written": written,
        "xmp": xmp_line,
        "c2pa": c2pa_line,
        "data_mining": policy.plus_data_mining,
        "training_mining": dict(policy.training_mining),
        "http_headers": http_headers(policy),
    }
