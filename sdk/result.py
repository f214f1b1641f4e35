"""The one neutral result type every backend, adapter and server hands back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Called with (step, total) as a cloak or a job advances; shared by the engine, the client and the adapters.
ProgressCallback = Callable[[int, int], None]


class CloakReport(BaseModel):
    """What was done to one image, and how well it worked. Serialisable as JSON."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(description="stylecloak version that made the cloak.")
    extractor: str = Field(description="Feature extractor Φ (comma-separated for an ensemble).")
    device: str
    dtype: str = Field(description="Compute dtype: bfloat16 (autocast) or float32.")
    target_style: str
    target_reason: str = Field(description="Why this target style: explicit, stored for the artist, or chosen.")
    style_transfer: str = Field(default="latent", description="How the target rendition was made (Ω).")
    intensity: str
    quality: str
    budget_kind: str = Field(description="lpips or ssim (weightless fallback).")
    budget_p: float = Field(description="Allowed perceptual distance p.")
    budget_value: float = Field(description="Measured perceptual distance of the result (same metric).")
    linf: float = Field(description="Hard L∞ bound on the perturbation, in [0, 1] pixel units.")
    steps: int
    seconds: float
    latent_shift: float = Field(
        description="1 − ‖Φ(x̃) − t‖ / ‖Φ(x) − t‖ on the saved output x̃, on the working grid (the cloak's own "
        "512 px view); 1 = moved fully to the target t."
    )
    shifts: dict[str, float] = Field(default_factory=dict, description="Latent shift per extractor.")
    mimic_shift: float | None = Field(
        default=None,
        description="Mean latent shift (primary extractor) over the standard mimic views: the image as trainers "
        "feed it to their models, at short sides 512, 768, 1024 and its own size, bilinear and bicubic.",
    )
    mimic_worst: float | None = Field(default=None, description="Lowest latent shift among the standard mimic views.")
    mimic_views: dict[str, float] = Field(default_factory=dict, description="Latent shift at each standard view.")
    ssim: float = Field(description="SSIM of the output to the input at full size.")
    ssim_working: float | None = Field(default=None, description="SSIM on the working grid.")
    psnr: float = Field(description="PSNR of the output to the input (dB, full resolution).")
    max_abs_change: float = Field(description="Largest pixel change in the output, in [0, 1] units.")
    size: tuple[int, int] = Field(description="Output width and height (same as the input).")
    working_size: tuple[int, int] = Field(description="Width and height at which the cloak was computed.")
    settings_hash: str = Field(description="Hash of the cloak parameters, also stored in the marker.")
    robustness: str = Field(default="none", description="Transformation profile optimised against.")
    rights: dict[str, Any] | None = Field(default=None, description="Machine-readable signals written.")
    input_marker: Literal["absent", "unverified", "verified"] = Field(
        default="absent",
        description="The input's own stylecloak marker: absent, unverified (forged or from another key; "
        "treated as absent) or verified (cloaked again only with force).",
    )


@dataclass(frozen=True, slots=True)
class CloakResult:
    """Cloaked image bytes (same format as the input) and the report."""

    data: bytes
    content_type: str
    format: str
    report: CloakReport
    # The optimiser's per-step record (stylecloak.engine.optimize.Trace) when made in-process; not sent
    # over the wire, used by the evaluation's plots.
    trace: Any = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        return self.report.size

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_bytes(self.data)
        return target
