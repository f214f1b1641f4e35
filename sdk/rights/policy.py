"""The rights policy: which "do not train" signals to write, and the C2PA signing credentials.

One frozen model, :class:`RightsPolicy`, built in code, from a mapping (a framework's config) with
:meth:`RightsPolicy.from_mapping`, or from ``STYLECLOAK_RIGHTS_*`` environment variables with
:meth:`RightsPolicy.from_env`. ``use`` is the one-word stance (the CLI's ``--rights``); every signal
follows it unless given its own value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from stylecloak.errors import ConfigurationError

Use = Literal["allowed", "notAllowed", "constrained"]
SigningAlgorithm = Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"]

ENV_PREFIX = "STYLECLOAK_RIGHTS_"
USES: tuple[Use, ...] = ("allowed", "notAllowed", "constrained")

# IPTC PLUS "Data Mining" vocabulary (http://ns.useplus.org/ldf/vocab/...).
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
DMI_VALUES = (
    "DMI-UNSPECIFIED",
    "DMI-ALLOWED",
    "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "DMI-PROHIBITED",
    "DMI-PROHIBITED-SEECONSTRAINT",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",
)
DMI_PROHIBITED_AIMLTRAINING = PLUS_VOCAB + "DMI-PROHIBITED-AIMLTRAINING"
DMI_FOR_USE: dict[str, str] = {
    "allowed": PLUS_VOCAB + "DMI-ALLOWED",
    "notAllowed": DMI_PROHIBITED_AIMLTRAINING,
    "constrained": PLUS_VOCAB + "DMI-PROHIBITED-SEECONSTRAINT",
}

# The CAWG training-and-data-mining assertion and its four standard entries.
CAWG_LABEL = "cawg.training-mining"
CAWG_ENTRIES = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.data_mining", "cawg.ai_inference")


class RightsPolicy(BaseModel):
    """What the rights step writes. The defaults reserve every use: AI/ML training, generative
    training, data mining and inference are all ``notAllowed``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    use: Use = Field(default="notAllowed", description="Stance for every signal not given its own value.")
    data_mining: str | None = Field(
        default=None,
        description="plus:DataMining value from the PLUS vocabulary (full URI or e.g. DMI-PROHIBITED); "
        "default follows `use`.",
    )
    ai_training: Use | None = Field(default=None, description="cawg.ai_training; default follows `use`.")
    ai_generative_training: Use | None = Field(
        default=None, description="cawg.ai_generative_training; default follows `use`."
    )
    data_mining_use: Use | None = Field(default=None, description="cawg.data_mining; default follows `use`.")
    ai_inference: Use | None = Field(default=None, description="cawg.ai_inference; default follows `use`.")
    constraints: str | None = Field(
        default=None,
        description="Constraint text: plus:OtherConstraints and the CAWG constraint_info of constrained entries.",
    )
    tdm_policy_url: str | None = Field(default=None, description="TDMRep policy URL (tdm-policy header).")
    xmp: bool = Field(default=True, description="Write the IPTC/PLUS XMP reservation.")
    c2pa_cert: Path | None = Field(default=None, description="PEM certificate chain file (signer first).")
    c2pa_key: Path | None = Field(default=None, description="PEM private key file.")
    c2pa_cert_pem: str | None = Field(default=None, description="PEM certificate chain, inline (e.g. a secret).")
    c2pa_key_pem: SecretStr | None = Field(default=None, description="PEM private key, inline (e.g. a secret).")
    c2pa_alg: SigningAlgorithm = Field(default="es256", description="C2PA signing algorithm, matching the key.")
    c2pa_tsa_url: str | None = Field(default=None, description="RFC 3161 time-stamp authority URL (optional).")
    c2pa_trust_anchors: Path | None = Field(
        default=None, description="PEM root certificates trusted when reading manifests (inspect)."
    )

    @field_validator("data_mining")
    @classmethod
    def _full_uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip().removeprefix(PLUS_VOCAB)
        if name not in DMI_VALUES:
            raise ValueError(f"data_mining must be one of the PLUS vocabulary: {', '.join(DMI_VALUES)}")
        return PLUS_VOCAB + name

    @field_validator("constraints", "tdm_policy_url", "c2pa_cert_pem", "c2pa_tsa_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> RightsPolicy:
        if self.c2pa_cert and self.c2pa_cert_pem:
            raise ValueError("give the C2PA certificate as a file (c2pa_cert) or inline (c2pa_cert_pem), not both")
        if self.c2pa_key and self.c2pa_key_pem:
            raise ValueError("give the C2PA key as a file (c2pa_key) or inline (c2pa_key_pem), not both")
        has_cert = bool(self.c2pa_cert or self.c2pa_cert_pem)
        has_key = bool(self.c2pa_key or self.c2pa_key_pem)
        if has_cert != has_key:
            raise ValueError("C2PA signing needs both a certificate and a private key")
        constrained = "constrained" in self.training_mining.values() or self.plus_data_mining.endswith("SEECONSTRAINT")
        if constrained and not self.constraints:
            raise ValueError("a constrained use needs the constraint text (constraints=...)")
        return self

    # ------------------------------------------------------------------ resolved values

    @property
    def plus_data_mining(self) -> str:
        """The plus:DataMining URI written into XMP."""
        return self.data_mining or DMI_FOR_USE[self.use]

    @property
    def training_mining(self) -> dict[str, Use]:
        """The four CAWG entries, each resolved against ``use``."""
        values = (self.ai_training, self.ai_generative_training, self.data_mining_use, self.ai_inference)
        return {entry: value or self.use for entry, value in zip(CAWG_ENTRIES, values, strict=True)}

    @property
    def reserves(self) -> bool:
        """Whether any use is reserved (so crawlers are asked to stay away)."""
        return any(value != "allowed" for value in self.training_mining.values()) or not self.plus_data_mining.endswith(
            "DMI-ALLOWED"
        )

    @property
    def has_signing_credentials(self) -> bool:
        return bool((self.c2pa_cert or self.c2pa_cert_pem) and (self.c2pa_key or self.c2pa_key_pem))

    def signing_credentials(self) -> tuple[bytes, bytes]:
        """The PEM certificate chain and private key, read from files or taken inline."""
        if not self.has_signing_credentials:
            raise ConfigurationError("no C2PA signing credentials configured (c2pa_cert and c2pa_key)")
        cert = self.c2pa_cert_pem.encode() if self.c2pa_cert_pem else _read_pem(self.c2pa_cert, "certificate")
        key = self.c2pa_key_pem.get_secret_value().encode() if self.c2pa_key_pem else _read_pem(self.c2pa_key, "key")
        return cert, key

    def trust_anchors(self) -> str | None:
        if self.c2pa_trust_anchors is None:
            return None
        return _read_pem(self.c2pa_trust_anchors, "trust anchors").decode()

    # ------------------------------------------------------------------ sources

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RightsPolicy:
        """The policy from ``STYLECLOAK_RIGHTS_<FIELD>`` variables (e.g. ``STYLECLOAK_RIGHTS_USE``,
        ``STYLECLOAK_RIGHTS_C2PA_KEY_PEM``), with explicit ``overrides`` (None ignored) on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RightsPolicy:
        """The policy from a plain mapping (a framework's settings), as a :class:`ConfigurationError` if bad."""
        try:
            return cls.model_validate(mapping)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid rights policy: {_first_error(exc)}", detail=str(exc)) from exc


def _read_pem(path: Path | None, what: str) -> bytes:
    assert path is not None
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the C2PA {what} file {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise ConfigurationError(f"the C2PA {what} file {path} is not PEM")
    return data


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else str(error["msg"])
