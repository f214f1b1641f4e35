"""C2PA manifests through ``c2pa-python``: sign the rights assertion into an image, and read it back.

The manifest carries two assertions: ``c2pa.actions`` (the asset was opened, then edited by
stylecloak: ``c2pa.opened`` with the unsigned file as parent ingredient, added by the builder's
edit intent, then ``c2pa.edited``) and the CAWG training-and-data-mining assertion
``cawg.training-mining`` with its four entries. Signing binds a hash of every byte outside the
manifest, so it must be the very last change to the file; any later re-encode or metadata edit
shows up as a broken manifest.

``c2pa`` is imported only inside these functions: ``import stylecloak.rights`` stays free of it.
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field
from stylecloak._version import __version__
from stylecloak.errors import ConfigurationError, InvalidImageError, MissingExtraError
from stylecloak.images import CONTENT_TYPES
from stylecloak.rights.policy import CAWG_LABEL, RightsPolicy

MIME_TYPES = CONTENT_TYPES
EDIT_DESCRIPTION = "Style cloak applied: an adversarial perturbation against style mimicry (stylecloak)."
UNTRUSTED = "signingCredential.untrusted"
# Reading never goes to the network: no remote manifests, no OCSP.
_READ_SETTINGS: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
# Thumbnails would add tens to hundreds of kilobytes to every served image for no reader we target.
_SIGN_SETTINGS: dict[str, Any] = {
    "builder": {"thumbnail": {"enabled": False}},
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
}

State = Literal["valid", "untrusted", "broken", "none", "unknown"]
STATE_LABELS = {
    "valid": "valid",
    "untrusted": "untrusted signer",
    "broken": "broken",
    "none": "none",
    "unknown": "unknown",
}


class C2paState(BaseModel):
    """What an image's C2PA manifest says, and whether it holds."""

    model_config = ConfigDict(frozen=True)

    state: State = Field(
        description="valid (trusted signer), untrusted (signature and bindings hold, signer not on a trust "
        "list), broken (manifest present but fails validation), none, or unknown (c2pa-python missing)."
    )
    validation_state: str | None = Field(default=None, description="c2pa's own verdict: Trusted, Valid, Invalid.")
    signer: str | None = Field(default=None, description="Common name of the signing certificate.")
    issuer: str | None = Field(default=None, description="Issuer (organisation) of the signing certificate.")
    training_mining: dict[str, str] = Field(default_factory=dict, description="cawg.training-mining entry → use.")
    constraints: dict[str, str] = Field(default_factory=dict, description="Entry → constraint_info, if any.")
    actions: list[str] = Field(default_factory=list, description="Actions of the active manifest, in order.")
    codes: list[str] = Field(default_factory=list, description="Validation failure codes.")
    detail: str | None = Field(default=None, description="Why the state is broken or unknown.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """The state in words: valid, untrusted signer, broken, none, unknown."""
        return STATE_LABELS[self.state]


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError as exc:
        raise MissingExtraError("c2pa-python", "c2pa") from exc
    return c2pa


def manifest_definition(policy: RightsPolicy, title: str | None = None) -> dict[str, Any]:
    """The manifest stylecloak signs: the edit action and the CAWG training-and-data-mining entries."""
    entries: dict[str, dict[str, str]] = {}
    for entry, use in policy.training_mining.items():
        entries[entry] = {"use": use}
        if use == "constrained" and policy.constraints:
            entries[entry]["constraint_info"] = policy.constraints
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": "stylecloak", "version": __version__}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.edited",
                            "softwareAgent": {"name": "stylecloak", "version": __version__},
                            "description": EDIT_DESCRIPTION,
                        }
                    ]
                },
            },
            {"label": CAWG_LABEL, "data": {"entries": entries}},
        ],
    }
    if title:
        definition["title"] = title
    return definition


def _mime(fmt: str) -> str:
    mime = MIME_TYPES.get(fmt.upper())
    if mime is None:
        raise InvalidImageError(f"C2PA is not supported for {fmt} files")
    return mime


def sign(data: bytes, fmt: str, policy: RightsPolicy) -> bytes:
    """``data`` with a signed C2PA manifest embedded (the policy must carry signing credentials)."""
    c2pa = _c2pa()
    mime = _mime(fmt)
    cert, key = policy.signing_credentials()
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                alg=policy.c2pa_alg.encode(), sign_cert=cert, private_key=key, ta_url=policy.c2pa_tsa_url
            )
        )
    except (c2pa.C2paError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot load the C2PA certificate and key: {exc}") from exc
    try:
        context = c2pa.Context.from_dict(_SIGN_SETTINGS)
        with c2pa.Builder(manifest_definition(policy), context=context) as builder:
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            out = io.BytesIO()
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        # Our own encoder made ``data``; what c2pa refuses here is the certificate (profile, key usage,
        # algorithm) far more often than the file.
        raise ConfigurationError(
            f"C2PA signing failed: {exc} (the certificate needs a digitalSignature key usage, subject and "
            "authority key identifiers, and a key matching c2pa_alg)",
        ) from exc
    finally:
        signer.close()
    return out.getvalue()


def _assertion(manifest: dict[str, Any], *labels: str) -> Any:
    for assertion in manifest.get("assertions") or []:
        if assertion.get("label") in labels:
            return assertion.get("data") or {}
    return None


def state_from_store(store: dict[str, Any]) -> C2paState:
    """Our summary of a manifest store as ``c2pa.Reader.json()`` returns it."""
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
    codes = [str(item.get("code")) for item in store.get("validation_status") or []]
    verdict = store.get("validation_state")
    if verdict == "Trusted" or (verdict == "Valid" and UNTRUSTED not in codes):
        state: State = "valid"
    elif verdict in ("Valid", "Invalid") and codes and set(codes) <= {UNTRUSTED}:
        state = "untrusted"
    else:
        state = "broken"
    training = _assertion(manifest, CAWG_LABEL, "c2pa.training-mining") or {}
    entries = training.get("entries") or {}
    actions = _assertion(manifest, "c2pa.actions", "c2pa.actions.v2") or {}
    signature = manifest.get("signature_info") or {}
    return C2paState(
        state=state,
        validation_state=verdict,
        signer=signature.get("common_name"),
        issuer=signature.get("issuer"),
        training_mining={name: str(value.get("use")) for name, value in entries.items() if isinstance(value, dict)},
        constraints={
            name: str(value["constraint_info"])
            for name, value in entries.items()
            if isinstance(value, dict) and value.get("constraint_info")
        },
        actions=[str(action.get("action")) for action in actions.get("actions") or []],
        codes=codes,
        detail=None if state != "broken" else "; ".join(codes) or "no validation verdict",
    )


def read(data: bytes, fmt: str, trust_anchors: str | None = None) -> C2paState:
    """The C2PA state of ``data``. ``trust_anchors``: PEM roots whose signers count as trusted."""
    c2pa = _c2pa()
    settings = dict(_READ_SETTINGS)
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors}
    try:
        context = c2pa.Context.from_dict(settings)
        reader = c2pa.Reader.try_create(_mime(fmt), io.BytesIO(data), None, context)
        if reader is None:
            return C2paState(state="none")
        with reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        # A manifest is there (try_create returns None when there is none) but cannot be read.
        return C2paState(state="broken", detail=str(exc))
    return state_from_store(store)
