"""The rights step in the real engine and on the command line (the issue's acceptance check)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stylecloak.cli import main
from stylecloak.rights import CAWG_ENTRIES, RightsPolicy, inspect

from tests.conftest import encoded, painting
from tests.conftest import fast_env as fast_env_vars
from tests.sdk.rights.conftest import pixels

pytest.importorskip("c2pa")


def test_cloak_with_rights_is_cloaked_reserved_and_signed(cloaker, signing_chain) -> None:  # type: ignore[no-untyped-def]
    source = encoded(painting(160, 128, seed=7), "JPEG", quality=92)
    policy = RightsPolicy(c2pa_cert=signing_chain.cert, c2pa_key=signing_chain.key)
    plain = cloaker.cloak(source, steps=1, seed=5)
    result = cloaker.cloak(source, steps=1, seed=5, rights=policy)

    assert result.report.rights is not None and result.report.rights["written"] == ["xmp", "c2pa"]
    assert np.array_equal(pixels(result.data)[1], pixels(plain.data)[1]), "the rights step never touches pixels"
    report = inspect(result.data, trust_anchors=signing_chain.root)
    assert report.cloaked and report.marker_settings == result.report.settings_hash
    assert report.data_mining_term == "DMI-PROHIBITED-AIMLTRAINING"
    assert report.c2pa.state == "valid"
    assert report.c2pa.training_mining == dict.fromkeys(CAWG_ENTRIES, "notAllowed")


def test_cloak_without_credentials_says_so(cloaker) -> None:  # type: ignore[no-untyped-def]
    result = cloaker.cloak(encoded(painting(160, 128, seed=8)), steps=1, rights=RightsPolicy())
    assert result.report.rights == {
        "written": ["xmp"],
        "xmp": "plus:DataMining = http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING",
        "c2pa": "not written (no signing credentials configured)",
        "data_mining": "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING",
        "training_mining": dict.fromkeys(CAWG_ENTRIES, "notAllowed"),
        "http_headers": {"X-Robots-Tag": "noai, noimageai", "tdm-reservation": "1"},
    }
    assert inspect(result.data).c2pa.state == "none"


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch, fast_settings) -> None:  # type: ignore[no-untyped-def]
    for key, value in fast_env_vars().items():
        monkeypatch.setenv(key, value)


def test_cli_cloak_with_rights_then_inspect(tmp_path: Path, fast_env: None, signing_chain, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "art.webp"
    source.write_bytes(encoded(painting(160, 128, seed=9), "WEBP", quality=90))
    out = tmp_path / "art.cloaked.webp"
    args = ["cloak", str(source), "-o", str(out), "--steps", "1", "--rights", "notAllowed"]
    assert main([*args, "--c2pa-cert", str(signing_chain.cert), "--c2pa-key", str(signing_chain.key)]) == 0
    assert "signals: xmp+c2pa" in capsys.readouterr().out

    assert main(["inspect", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cloaked"] is True
    assert report["data_mining"].endswith("DMI-PROHIBITED-AIMLTRAINING")
    assert report["c2pa"]["state"] == "untrusted"
    assert report["c2pa"]["training_mining"] == dict.fromkeys(CAWG_ENTRIES, "notAllowed")

    assert main(["inspect", str(out), "--trust-anchors", str(signing_chain.root)]) == 0
    text = capsys.readouterr().out
    assert "cloaked:    yes" in text and "DMI-PROHIBITED-AIMLTRAINING" in text
    assert "C2PA:       valid" in text and "cawg.ai_training = notAllowed" in text


def test_cli_rejects_a_constrained_policy_without_text_and_unreadable_keys(
    tmp_path: Path, fast_env: None, capsys
) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "art.png"
    source.write_bytes(encoded(painting()))
    assert main(["cloak", str(source), "--rights", "constrained"]) == 1
    assert "constraint text" in capsys.readouterr().err
    missing = ["--c2pa-cert", str(tmp_path / "no.pem"), "--c2pa-key", str(tmp_path / "no.key")]
    assert main(["cloak", str(source), *missing]) == 1
    assert "cannot read the C2PA certificate" in capsys.readouterr().err
    assert not (tmp_path / "art.cloaked.png").exists()


def test_cli_inspect_of_a_non_image_is_an_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    assert main(["inspect", str(path)]) == 1
    assert "not an image" in capsys.readouterr().err
