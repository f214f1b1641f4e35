"""Routing configuration: key mapping, loop safety, content types, and the sources of configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

pytest.importorskip("boto3")

from stylecloak.adapters.s3.config import Route, S3Config, config_from_env, config_from_flags, load_config
from stylecloak.cli import build_parser
from stylecloak.errors import ConfigurationError
from stylecloak.rights import RightsPolicy


def test_route_maps_keys_and_keeps_rights_on_by_default() -> None:
    route = Route(
        source="s3://art/incoming/", destination="s3://cdn/public/", original="archive", archive="s3://art/orig/"
    )
    assert route.output_key("incoming/ada/a b.png") == "public/ada/a b.png"
    assert route.archive_key("incoming/ada/a b.png") == "orig/ada/a b.png"
    assert route.rights == RightsPolicy()
    assert route.cloak_options().steps is None and route.cloak_options().rights is None
    assert Route(source="s3://art/in/", destination="s3://art/out/", rights=None).rights is None


def test_a_route_whose_options_the_engine_would_refuse_is_refused_at_start_up() -> None:
    from stylecloak.bounds import MAX_STEPS

    with pytest.raises(ValidationError, match="steps"):
        Route(source="s3://art/in/", destination="s3://art/out/", steps=MAX_STEPS + 1)


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        ("s3://art/incoming/", "s3://art/incoming/public/"),  # output inside the watched prefix
        ("s3://art/incoming/", "s3://art/"),  # watched prefix inside the output prefix
        ("s3://art/in", "s3://art/inbox/"),  # prefixes are strings, not folders
        ("s3://art/", "s3://art/public/"),
    ],
)
def test_destination_overlapping_the_source_is_refused(source: str, destination: str) -> None:
    with pytest.raises(ValueError, match="overlaps source"):
        Route(source=source, destination=destination)


def test_archive_must_be_private_and_unwatched() -> None:
    with pytest.raises(ValueError, match="originals would be public"):
        Route(source="s3://art/in/", destination="s3://art/out/", original="archive", archive="s3://art/out/orig/")
    with pytest.raises(ValueError, match="overlaps source"):
        Route(source="s3://art/in/", destination="s3://art/out/", original="archive", archive="s3://art/in/x/")
    with pytest.raises(ValueError, match="needs an archive"):
        Route(source="s3://art/in/", destination="s3://art/out/", original="archive")


def test_one_routes_output_may_not_be_anothers_source() -> None:
    first = {"source": "s3://art/a/", "destination": "s3://art/b/"}
    second = {"source": "s3://art/b/", "destination": "s3://art/c/"}
    with pytest.raises(ValueError, match="watched by another"):
        S3Config.model_validate({"routes": [first, second]})
    config = S3Config.model_validate({"routes": [first, {"source": "s3://art/x/", "destination": "s3://art/y/"}]})
    assert config.route_for("art", "x/1.png") is config.routes[1]
    assert config.route_for("art", "b/1.png") is None and not config.watched("other", "a/1.png")


@pytest.mark.parametrize(
    "other", [{"destination": "s3://art/orig/"}, {"original": "archive", "archive": "s3://art/orig/x/"}]
)
def test_an_archive_belongs_to_one_route(other: dict[str, str]) -> None:
    archiving = {
        "source": "s3://art/a/",
        "destination": "s3://cdn/a/",
        "original": "archive",
        "archive": "s3://art/orig/",
    }
    second = {"source": "s3://art/c/", "destination": "s3://cdn/c/", **other}
    for routes in ([archiving, second], [second, archiving]):
        with pytest.raises(ValueError, match="overlaps the archive"):
            S3Config.model_validate({"routes": routes})


def test_content_types() -> None:
    route = Route(source="s3://art/in/", destination="s3://art/out/", content_types=("image/*", "Binary/Octet-Stream"))
    assert route.accepts_type("image/png") and route.accepts_type("IMAGE/JPEG; q=1")
    assert route.accepts_type("binary/octet-stream")
    assert not route.accepts_type("text/plain") and not route.accepts_type("application/pdf")
    assert Route(source="s3://art/in/", destination="s3://art/out/").accepts_type(None)


def test_config_from_env_and_file(tmp_path: Path) -> None:
    env = {
        "STYLECLOAK_S3_SOURCE": "s3://art/incoming/",
        "STYLECLOAK_S3_DESTINATION": "s3://art/public/",
        "STYLECLOAK_S3_ARCHIVE": "s3://art/private/",
        "STYLECLOAK_S3_ENDPOINT_URL": "http://minio:9000",
        "STYLECLOAK_S3_ADDRESSING_STYLE": "path",
        "STYLECLOAK_S3_CONDITIONAL_WRITES": "false",
        "STYLECLOAK_RIGHTS_USE": "constrained",
        "STYLECLOAK_RIGHTS_CONSTRAINTS": "licence on request",
    }
    config = config_from_env(env)
    route = config.routes[0]
    assert (route.original, route.archive and route.archive.prefix) == ("archive", "private/")
    assert config.endpoint_url == "http://minio:9000" and config.addressing_style == "path"
    assert config.conditional_writes is False
    assert route.rights is not None and route.rights.use == "constrained"
    assert config_from_env({**env, "STYLECLOAK_S3_RIGHTS": "off"}).routes[0].rights is None

    path = tmp_path / "s3.json"
    path.write_text(json.dumps({"routes": [{"source": "s3://art/in/", "destination": "s3://cdn/out/", "steps": 3}]}))
    assert load_config(path).routes[0].steps == 3
    assert config_from_env({"STYLECLOAK_S3_CONFIG": str(path)}) == load_config(path)
    with pytest.raises(ConfigurationError, match="no S3 routes"):
        config_from_env({})
    with pytest.raises(ConfigurationError, match="invalid S3 adapter configuration"):
        config_from_env({"STYLECLOAK_S3_SOURCE": "s3://art/in/", "STYLECLOAK_S3_DESTINATION": "s3://art/in/out/"})


def test_worker_command_line_builds_the_config() -> None:
    args = build_parser().parse_args(
        [
            "worker",
            "s3",
            "--queue",
            "http://q",
            "--source",
            "s3://art/in/",
            "--destination",
            "s3://art/out/",
            "--s3-endpoint-url",
            "http://127.0.0.1:9",
            "--steps",
            "4",
            "--no-conditional-writes",
        ]
    )
    config = config_from_flags(vars(args))
    assert config.endpoint_url == "http://127.0.0.1:9" and not config.conditional_writes
    assert config.routes[0].steps == 4 and config.routes[0].destination.prefix == "out/"


def test_the_worker_flags_map_to_its_polling_config_and_a_missing_queue_is_refused() -> None:
    from stylecloak.adapters.s3.config import worker_config_from_flags
    from stylecloak.cli import build_parser

    args = build_parser().parse_args(["worker", "s3", "--queue", "http://q", "--concurrency", "3", "--wait-time", "0"])
    polling = worker_config_from_flags(vars(args))
    assert (polling.queue_url, polling.concurrency, polling.wait_time_s) == ("http://q", 3, 0)
    with pytest.raises(ConfigurationError, match="no queue"):
        worker_config_from_flags({**vars(args), "queue": None})
    with pytest.raises(ConfigurationError, match="concurrency"):
        worker_config_from_flags({**vars(args), "concurrency": 0})
