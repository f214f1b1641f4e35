"""The one shape of a cloak request's options, for every door a request comes in by.

The Client (local or remote), the upload middleware's policy, the S3 routes and the Serve API all
build a :class:`CloakOptions` when they are configured, so a misspelt or out-of-bounds option is a
``ConfigurationError`` at start-up, never a failure on each upload.

    >>> CloakOptions.build(quality="fast", steps=12).to_query()
    {'quality': 'fast', 'steps': '12'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from stylecloak import bounds
from stylecloak.errors import ConfigurationError

#: Engine overrides (``CloakParams`` numbers) a caller may set; a server caps ``steps``.
REMOTE_OVERRIDES = ("steps", "seed", "linf", "budget_p", "alpha", "lr")
# RightsPolicy fields that name signing credentials; never sent, never accepted from a caller.
SIGNING_PREFIX = "c2pa_"


class CloakOptions(BaseModel):
    """Everything a caller can choose about one cloak, whichever door it comes in by. Unknown options
    are refused."""

    # No inf or NaN anywhere; each number bounded as stylecloak.bounds says (presets.resolve checks again).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    artist_id: str | None = Field(default=None, max_length=256)
    intensity: Literal["low", "default", "high"] | None = None
    quality: Literal["fast", "default", "slow"] | None = None
    target_style: str | None = Field(default=None, max_length=256)
    force: bool = False
    steps: int | None = Field(default=None, ge=1, le=bounds.MAX_STEPS)
    seed: int | None = Field(default=None, ge=0, le=bounds.MAX_SEED)
    linf: float | None = Field(default=None, gt=0, le=1)
    budget_p: float | None = Field(default=None, gt=0, le=1)
    alpha: float | None = Field(default=None, gt=0, le=bounds.MAX_ALPHA)
    lr: float | None = Field(default=None, gt=0, le=bounds.MAX_LR)
    rights: dict[str, Any] | None = Field(
        default=None,
        description="A stylecloak.rights.RightsPolicy as JSON, without its c2pa_* fields: the server signs "
        "with its own credentials (STYLECLOAK_RIGHTS_C2PA_*).",
    )

    @classmethod
    def build(cls, **values: Any) -> CloakOptions:
        """Options from keyword arguments, with a typed error naming what is wrong."""
        rights = values.get("rights")
        if rights is not None and hasattr(rights, "model_dump"):
            values["rights"] = rights.model_dump(mode="json", exclude_none=True)
        if isinstance(values.get("rights"), dict):
            values["rights"] = public_rights(values["rights"])
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid cloak options: {validation_summary(exc)}") from exc

    def to_query(self) -> dict[str, str]:
        """Query parameters for these options (only the ones set)."""
        query: dict[str, str] = {}
        for key, value in self.model_dump(exclude_defaults=True).items():
            if key == "rights":
                query[key] = json.dumps(value, separators=(",", ":"), sort_keys=True)
            elif isinstance(value, bool):
                query[key] = "true" if value else "false"
            else:
                query[key] = str(value)
        return query

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> CloakOptions:
        values: dict[str, Any] = dict(params)
        if "rights" in values:
            try:
                values["rights"] = json.loads(values["rights"])
            except ValueError as exc:
                raise ConfigurationError("the rights option must be a JSON object") from exc
        return cls.build(**values)

    def overrides(self) -> dict[str, Any]:
        """The engine overrides (``steps``, ``seed`` …) that were set, plus ``force``."""
        values: dict[str, Any] = {key: getattr(self, key) for key in REMOTE_OVERRIDES if getattr(self, key) is not None}
        if self.force:
            values["force"] = True
        return values


def public_rights(policy: Mapping[str, Any]) -> dict[str, Any]:
    """A rights policy without its signing fields: C2PA credentials stay on the server that signs."""
    return {key: value for key, value in policy.items() if not key.startswith(SIGNING_PREFIX)}


def validation_summary(exc: ValidationError) -> str:
    """Pydantic's errors in one line: ``field: message; …``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(item) for item in error["loc"]) or "options"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
