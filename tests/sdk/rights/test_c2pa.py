"""C2PA: sign the CAWG training-and-data-mining assertion with a throwaway chain, read it back."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stylecloak.errors import ConfigurationError
from stylecloak.rights import CAWG_ENTRIES, RightsPolicy, apply, inspect

from tests.conftest import ROOT
from tests.sdk.rights.conftest import ARTIST_XMP, image_bytes, pixels

c2pa = pytest.importorskip("c2pa")

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "TIFF": "image/tiff"}


def policy_for(chain, **fields: object) -> RightsPolicy:  # type: ignore[no-untyped-def]
    return RightsPolicy(c2pa_cert=chain.cert, c2pa_key=chain.key, **fields)


def active_manifest(data: bytes, fmt: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    with c2pa.Reader(MIME[fmt], io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    return store, store["manifests"][store["active_manifest"]]


def assertion(manifest: dict, label: str) -> dict:  # type: ignore[type-arg]
    return next(item["data"] for item in manifest["assertions"] if item["label"] == label)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_signed_manifest_reads_back_with_the_training_mining_entries(signing_chain, fmt: str) -> None:  # type: ignore[no-untyped-def]
    source = image_bytes(fmt, xmp=ARTIST_XMP)
    out, info = apply(source, fmt, policy_for(signing_chain))

    store, manifest = active_manifest(out, fmt)
    entries = assertion(manifest, "cawg.training-mining")["entries"]
    assert {name: entry["use"] for name, entry in entries.items()} == dict.fromkeys(CAWG_ENTRIES, "notAllowed")
    actions = [action["action"] for action in assertion(manifest, "c2pa.actions.v2")["actions"]]
    assert actions == ["c2pa.opened", "c2pa.edited"]
    assert manifest["signature_info"]["common_name"] == "stylecloak test signer"
    assert store["validation_state"] == "Valid"
    assert [status["code"] for status in store.get("validation_status", [])] == ["signingCredential.untrusted"]
    assert "thumbnail" not in manifest, "no thumbnails: they would bloat every served image"

    assert info["written"] == ["xmp", "c2pa"] and info["c2pa"].startswith("signed (es256): cawg.training-mining")
    assert np.array_equal(pixels(out)[1], pixels(source)[1]), "pixels must be byte-identical"
    report = inspect(out)
    assert report.data_mining_term == "DMI-PROHIBITED-AIMLTRAINING", "the XMP written before signing is intact"
    assert report.c2pa.state == "untrusted" and report.c2pa.label == "untrusted signer"


def test_constrained_entries_carry_the_constraint_text(signing_chain) -> None:  # type: ignore[no-untyped-def]
    policy = policy_for(signing_chain, use="allowed", ai_generative_training="constrained", constraints="Ask first.")
    out, _ = apply(image_bytes("PNG"), "PNG", policy)
    state = inspect(out).c2pa
    assert state.training_mining == {
        "cawg.ai_generative_training": "constrained",
        "cawg.ai_inference": "allowed",
        "cawg.ai_training": "allowed",
        "cawg.data_mining": "allowed",
    }
    assert state.constraints == {"cawg.ai_generative_training": "Ask first."}


def test_the_platforms_root_makes_it_valid(signing_chain) -> None:  # type: ignore[no-untyped-def]
    out, _ = apply(image_bytes("JPEG"), "JPEG", policy_for(signing_chain))
    assert inspect(out, trust_anchors=signing_chain.root).c2pa.state == "valid"
    assert inspect(out, trust_anchors=signing_chain.root.read_text()).c2pa.validation_state == "Trusted"


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_other_formats_are_signed_too(signing_chain, fmt: str) -> None:  # type: ignore[no-untyped-def]
    source = image_bytes(fmt)
    out, info = apply(source, fmt, policy_for(signing_chain))
    assert info["written"] == ["xmp", "c2pa"]
    report = inspect(out, trust_anchors=signing_chain.root)
    assert report.c2pa.state == "valid" and report.data_mining_term == "DMI-PROHIBITED-AIMLTRAINING"
    assert np.array_equal(pixels(out)[1], pixels(source)[1])


def test_a_reencoded_copy_has_no_manifest_and_an_edited_one_is_broken(signing_chain) -> None:  # type: ignore[no-untyped-def]
    signed, _ = apply(image_bytes("JPEG"), "JPEG", policy_for(signing_chain))

    reencoded = io.BytesIO()
    with Image.open(io.BytesIO(signed)) as image:
        image.save(reencoded, format="JPEG", quality=90, xmp=image.info.get("xmp"))
    assert inspect(reencoded.getvalue()).c2pa.state == "none"

    # Same container, one changed byte in the scan data: the hash binding no longer matches.
    edited = bytearray(signed)
    edited[-10] ^= 0xFF
    state = inspect(bytes(edited), trust_anchors=signing_chain.root).c2pa
    assert state.state == "broken"
    assert "assertion.dataHash.mismatch" in state.codes
    assert state.training_mining, "the (no longer binding) entries are still shown"

    # A metadata edit after signing breaks it too, which is why signing is the last step.
    resigned_xmp, _ = apply(signed, "JPEG", RightsPolicy(use="allowed"))
    assert inspect(resigned_xmp).c2pa.state == "broken"


def test_unsigned_images_report_none(signing_chain) -> None:  # type: ignore[no-untyped-def]
    report = inspect(image_bytes("WEBP"))
    assert report.c2pa.state == "none" and not report.cloaked and report.data_mining is None


def test_bad_credentials_are_configuration_errors(signing_chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = RightsPolicy(c2pa_cert=tmp_path / "nope.pem", c2pa_key=signing_chain.key)
    with pytest.raises(ConfigurationError, match="cannot read the C2PA certificate"):
        apply(image_bytes("JPEG"), "JPEG", missing)

    swapped = RightsPolicy(c2pa_cert=signing_chain.cert, c2pa_key_pem=signing_chain.root.read_text())
    with pytest.raises(ConfigurationError):
        apply(image_bytes("JPEG"), "JPEG", swapped)

    # A key of another type than the algorithm named.
    wrong_alg = policy_for(signing_chain, c2pa_alg="ps256")
    with pytest.raises(ConfigurationError):
        apply(image_bytes("JPEG"), "JPEG", wrong_alg)


def test_inline_pem_secrets_sign_like_files(signing_chain) -> None:  # type: ignore[no-untyped-def]
    policy = RightsPolicy(c2pa_cert_pem=signing_chain.cert.read_text(), c2pa_key_pem=signing_chain.key.read_text())
    out, info = apply(image_bytes("PNG"), "PNG", policy)
    assert info["written"] == ["xmp", "c2pa"] and inspect(out).c2pa.state == "untrusted"


def test_without_c2pa_installed_signing_names_the_extra_and_inspect_still_works(signing_chain) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys; sys.modules['c2pa'] = None\n"
        "from stylecloak.rights import RightsPolicy, apply, inspect\n"
        "from stylecloak.errors import MissingExtraError\n"
        "from tests.sdk.rights.conftest import image_bytes\n"
        "data, info = apply(image_bytes('PNG'), 'PNG', RightsPolicy())\n"
        "print(info['written'], inspect(data).c2pa.state)\n"
        f"policy = RightsPolicy(c2pa_cert={str(signing_chain.cert)!r}, c2pa_key={str(signing_chain.key)!r})\n"
        "try:\n"
        "    apply(data, 'PNG', policy)\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    lines = result.stdout.splitlines()
    assert lines[0] == "['xmp'] unknown"
    assert "stylecloak[c2pa]" in lines[1]
