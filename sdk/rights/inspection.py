"""What an image says about itself: stylecloak's marker, the XMP data-mining reservation, C2PA.

Reads headers and metadata only; pixels are never decoded.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import IO, Literal

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, computed_field
from stylecloak import marker, xmp
from stylecloak.errors import (
    ConfigurationError,
    ImageTooLargeError,
    InvalidImageError,
    MissingExtraError,
    StylecloakError,
)
from stylecloak.images import FORMATS, read_bytes
from stylecloak.rights import containers, provenance
from stylecloak.rights.policy import PLUS_VOCAB
from stylecloak.rights.provenance import C2paState

PLUS = xmp.KNOWN_PREFIXES["plus"]
InspectSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


class InspectReport(BaseModel):
    """The signals one image carries. Serialisable as JSON."""

    model_config = ConfigDict(frozen=True)

    format: str
    content_type: str
    size: tuple[int, int]
    nbytes: int
    cloaked: bool = Field(description="Carries stylecloak's marker, and it verifies under this key.")
    marker: Literal["verified", "unverified", "absent"] = Field(
        default="absent",
        description="The marker's state: verified, unverified (forged, another key, or changed pixels), absent.",
    )
    marker_version: str | None = Field(default=None, description="stylecloak version that made the cloak.")
    marker_settings: str | None = Field(default=None, description="Hash of the cloak's settings.")
    marker_style: str | None = Field(default=None, description="Target style recorded in the marker.")
    data_mining: str | None = Field(default=None, description="plus:DataMining value in the XMP.")
    other_constraints: str | None = Field(default=None, description="plus:OtherConstraints in the XMP.")
    xmp_error: str | None = Field(default=None, description="Why the XMP could not be read, if it could not.")
    c2pa: C2paState

    @computed_field  # type: ignore[prop-decorator]
    @property
    def data_mining_term(self) -> str | None:
        """The PLUS term without its vocabulary prefix, e.g. ``DMI-PROHIBITED-AIMLTRAINING``."""
        return self.data_mining.removeprefix(PLUS_VOCAB) if self.data_mining else None

    def lines(self) -> list[str]:
        """A human-readable summary, one line per fact."""
        width, height = self.size
        out = [f"format:     {self.format} {width}×{height}, {self.nbytes} bytes"]
        if self.cloaked:
            style = f", target style {self.marker_style}" if self.marker_style else ""
            out.append(f"cloaked:    yes (stylecloak {self.marker_version}, settings {self.marker_settings}{style})")
        elif self.marker == "unverified":
            out.append("cloaked:    unverified marker (forged, another STYLECLOAK_MARKER_KEY, or changed pixels)")
        else:
            out.append("cloaked:    no")
        if self.data_mining:
            out.append(f"XMP:        plus:DataMining = {self.data_mining_term}")
            if self.other_constraints:
                out.append(f"            plus:OtherConstraints = {self.other_constraints}")
        else:
            out.append(f"XMP:        no data-mining reservation{f' ({self.xmp_error})' if self.xmp_error else ''}")
        state = self.c2pa
        signer = ", ".join(part for part in (state.signer, state.issuer) if part)
        out.append(f"C2PA:       {state.label}{f' (signed by {signer})' if signer else ''}")
        if state.detail:
            out.append(f"            {state.detail}")
        if state.training_mining:
            out.append("            cawg.training-mining:")
            for entry, use in state.training_mining.items():
                constraint = state.constraints.get(entry)
                out.append(f"              {entry} = {use}{f' ({constraint})' if constraint else ''}")
        if state.actions:
            out.append(f"            actions: {', '.join(state.actions)}")
        return out


def _open_header(data: bytes) -> tuple[str, tuple[int, int]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                fmt = "JPEG" if image.format == "MPO" else str(image.format)
                return fmt, image.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"refused as a decompression bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"not an image stylecloak reads ({', '.join(FORMATS)})") from exc


def _anchors(trust_anchors: str | Path | None) -> str | None:
    if trust_anchors is None or (isinstance(trust_anchors, str) and "-----BEGIN" in trust_anchors):
        return trust_anchors
    path = Path(trust_anchors)
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the trust anchors file {path}: {exc}") from exc


def inspect(image: InspectSource, *, trust_anchors: str | Path | None = None) -> InspectReport:
    """Whether ``image`` is cloaked, its XMP data-mining reservation, and its C2PA manifest state.

    ``trust_anchors``: PEM root certificates (text or a file path) whose signers count as trusted;
    without them a correctly signed manifest reads as "untrusted signer".
    """
    data = read_bytes(image)
    fmt, size = _open_header(data)
    checked = marker.check(data)
    found = checked.marker
    packet: bytes | None = None
    xmp_error = None
    try:
        packet = containers.read_xmp(data, fmt)
    except StylecloakError as exc:
        xmp_error = exc.message
    anchors = _anchors(trust_anchors)
    try:
        c2pa_state = provenance.read(data, fmt, anchors)
    except MissingExtraError as exc:
        c2pa_state = C2paState(state="unknown", detail=exc.message)
    return InspectReport(
        format=fmt,
        content_type=provenance.MIME_TYPES.get(fmt, "application/octet-stream"),
        size=size,
        nbytes=len(data),
        cloaked=checked.verified,
        marker=checked.state,
        marker_version=found.version if found else None,
        marker_settings=found.settings_hash if found else None,
        marker_style=(found.style or None) if found else None,
        data_mining=xmp.read_property(packet, PLUS, "DataMining"),
        other_constraints=xmp.read_property(packet, PLUS, "OtherConstraints"),
        xmp_error=xmp_error,
        c2pa=c2pa_state,
    )
