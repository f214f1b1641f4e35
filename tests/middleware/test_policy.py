"""The policy: what is covered, strict fields, and the mapping from STYLECLOAK_* configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from stylecloak.errors import ConfigurationError
from stylecloak.middleware.policy import UploadPolicy, import_string, policy_from_mapping


def artist_from_header(request: object) -> str | None:
    return "from-header"


def test_defaults_cover_every_upload_route_and_field() -> None:
    policy = UploadPolicy()
    assert policy.covers("POST", "/anything/at/all") and policy.covers("put", "/x")
    # Every method: Werkzeug parses a multipart body of a GET (or DELETE) request too.
    assert policy.covers("GET", "/upload") and policy.covers("delete", "/upload")
    assert policy.covers_field("whatever") and not policy.strict_field("whatever")
    assert policy.on_failure == "fail_closed" and policy.mode == "sync" and policy.rights is True


def test_routes_exclusions_and_methods() -> None:
    policy = UploadPolicy(routes=("/art/*", "/avatar"), exclude_routes=("/art/raw/*",), methods=("post",))
    assert policy.covers("POST", "/art/new") and policy.covers("POST", "/avatar")
    assert not policy.covers("POST", "/art/raw/1") and not policy.covers("POST", "/other")
    assert not policy.covers("PUT", "/art/new")


def test_named_fields_are_strict() -> None:
    policy = UploadPolicy(fields="artwork")  # one string is one field
    assert policy.fields == ("artwork",)
    assert policy.covers_field("artwork") and policy.strict_field("artwork")
    assert not policy.covers_field("attachment")


def test_policy_is_frozen_and_validated() -> None:
    policy = UploadPolicy()
    with pytest.raises(ValidationError):
        policy.mode = "deferred"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        UploadPolicy(on_failure="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        UploadPolicy(max_bytes=0)
    assert policy.replace(mode="deferred").mode == "deferred" and policy.mode == "sync"


def test_policy_from_settings_keys_and_dotted_callables() -> None:
    policy = policy_from_mapping(
        {
            "STYLECLOAK_FIELDS": ["artwork"],
            "STYLECLOAK_ON_FAILURE": "fail_open",
            "STYLECLOAK_ARTIST_ID": f"{__name__}.artist_from_header",
            "STYLECLOAK_CLOAK_OPTIONS": {"steps": 2},
            "STYLECLOAK_BACKEND": "http",  # an SDK setting: not the policy's business
            "SECRET_KEY": "x",
        }
    )
    assert policy.fields == ("artwork",) and policy.on_failure == "fail_open"
    assert policy.artist_id is artist_from_header and policy.cloak_options.steps == 2
    with pytest.raises(ConfigurationError):
        import_string("no.such.module.thing")


@pytest.mark.parametrize(
    ("options", "says"),
    [({"stepz": 2}, "stepz"), ({"steps": 0}, "steps"), ({"quality": "best"}, "quality"), ({"rights": {}}, "rights")],
)
def test_a_wrong_cloak_option_is_refused_when_the_policy_is_built(options: dict[str, object], says: str) -> None:
    # Before: options were checked on each upload, and under fail_open every upload passed unprotected.
    with pytest.raises(ConfigurationError, match=says):
        policy_from_mapping({"STYLECLOAK_CLOAK_OPTIONS": options, "STYLECLOAK_ON_FAILURE": "fail_open"})
