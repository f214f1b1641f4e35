"""The policy model, its sources, and the HTTP/HTML forms of the reservation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stylecloak.errors import ConfigurationError
from stylecloak.rights import (
    CAWG_ENTRIES,
    DMI_PROHIBITED_AIMLTRAINING,
    RightsPolicy,
    html_meta_tags,
    http_headers,
    robots_meta_tag,
    tdmrep_document,
    tdmrep_json,
)
from stylecloak.rights.provenance import manifest_definition

from tests.conftest import ROOT


def test_defaults_reserve_everything() -> None:
    policy = RightsPolicy()
    assert policy.plus_data_mining == DMI_PROHIBITED_AIMLTRAINING
    assert policy.training_mining == dict.fromkeys(CAWG_ENTRIES, "notAllowed")
    assert policy.reserves and not policy.has_signing_credentials
    with pytest.raises(Exception, match="frozen"):
        policy.use = "allowed"  # type: ignore[misc]


def test_use_drives_every_signal_unless_one_is_given() -> None:
    policy = RightsPolicy(
        use="allowed", ai_generative_training="notAllowed", data_mining="DMI-PROHIBITED-GENAIMLTRAINING"
    )
    assert policy.training_mining["cawg.ai_generative_training"] == "notAllowed"
    assert policy.training_mining["cawg.ai_training"] == "allowed"
    assert policy.plus_data_mining == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING"
    assert RightsPolicy(use="allowed").plus_data_mining.endswith("DMI-ALLOWED")
    assert not RightsPolicy(use="allowed").reserves


def test_constrained_entries_in_the_manifest() -> None:
    definition = manifest_definition(RightsPolicy(use="constrained", constraints="Licence at example.com"))
    entries = next(a["data"]["entries"] for a in definition["assertions"] if a["label"] == "cawg.training-mining")
    assert entries["cawg.data_mining"] == {"use": "constrained", "constraint_info": "Licence at example.com"}
    assert definition["assertions"][0]["data"]["actions"][0]["action"] == "c2pa.edited"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"use": "constrained"}, "constraint text"),
        ({"data_mining": "DMI-MAYBE"}, "PLUS vocabulary"),
        ({"c2pa_cert": "a.pem"}, "both a certificate and a private key"),
        ({"c2pa_cert": "a.pem", "c2pa_cert_pem": "x", "c2pa_key": "k.pem"}, "not both"),
        ({"use": "sometimes"}, "use"),
    ],
)
def test_bad_policies_are_configuration_errors(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RightsPolicy.from_mapping(fields)


def test_from_env_reads_the_prefix_and_flags_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STYLECLOAK_RIGHTS_USE", "constrained")
    monkeypatch.setenv("STYLECLOAK_RIGHTS_CONSTRAINTS", "Research only")
    monkeypatch.setenv("STYLECLOAK_RIGHTS_TDM_POLICY_URL", "https://art.example/tdm-policy.json")
    monkeypatch.setenv("STYLECLOAK_RIGHTS_C2PA_KEY_PEM", "-----BEGIN PRIVATE KEY-----\nsecret\n")
    monkeypatch.setenv("STYLECLOAK_RIGHTS_C2PA_CERT", str(tmp_path / "chain.pem"))
    monkeypatch.setenv("STYLECLOAK_RIGHTS_XMP", "false")
    policy = RightsPolicy.from_env()
    assert policy.use == "constrained" and policy.constraints == "Research only" and policy.xmp is False
    assert policy.has_signing_credentials and "secret" not in repr(policy), "the key stays secret"
    assert RightsPolicy.from_env(use="notAllowed", constraints=None).use == "notAllowed"
    monkeypatch.setenv("STYLECLOAK_RIGHTS_USE", "never")
    with pytest.raises(ConfigurationError, match="use"):
        RightsPolicy.from_env()


def test_http_headers() -> None:
    assert http_headers(RightsPolicy()) == {"X-Robots-Tag": "noai, noimageai", "tdm-reservation": "1"}
    with_url = http_headers(RightsPolicy(tdm_policy_url="https://art.example/policy.json"))
    assert with_url["tdm-policy"] == "https://art.example/policy.json"
    assert http_headers(RightsPolicy(use="allowed")) == {"tdm-reservation": "0"}


def test_html_meta_and_tdmrep_document() -> None:
    policy = RightsPolicy(tdm_policy_url='https://art.example/p?a=1&b="2"')
    assert robots_meta_tag(policy) == '<meta name="robots" content="noai, noimageai">'
    tags = html_meta_tags(policy).splitlines()
    assert tags[1] == '<meta name="tdm-reservation" content="1">'
    assert tags[2] == '<meta name="tdm-policy" content="https://art.example/p?a=1&amp;b=&quot;2&quot;">'
    assert tdmrep_document(policy, ["/art/*"]) == [
        {"location": "/art/*", "tdm-reservation": 1, "tdm-policy": 'https://art.example/p?a=1&b="2"'}
    ]
    assert json.loads(tdmrep_json(RightsPolicy())) == [{"location": "/*", "tdm-reservation": 1}]
    assert robots_meta_tag(RightsPolicy(use="allowed")) == ""


def test_importing_rights_imports_neither_c2pa_nor_cryptography() -> None:
    code = (
        "import sys\n"
        "import stylecloak.rights, stylecloak.cli.inspect\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('c2pa', 'cryptography', 'torch')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"
