"""boto3 clients for S3 and SQS, and reading botocore's errors. The only place boto3 is imported."""

from __future__ import annotations

from typing import Any

from stylecloak.adapters.s3.config import S3Config
from stylecloak.errors import MissingExtraError

# Codes S3 and S3-compatible servers use for a key or version that is not there.
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
PRECONDITION_CODES = {"412", "PreconditionFailed"}


def boto3_module() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise MissingExtraError("boto3", "s3") from exc
    return boto3


def client_errors() -> tuple[type[Exception], ...]:
    """The botocore exceptions a call can raise: answered errors and transport failures."""
    boto3_module()
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def make_clients(config: S3Config) -> tuple[Any, Any]:
    """(s3, sqs) boto3 clients for ``config``. boto3 clients are thread-safe; share them."""
    boto3 = boto3_module()
    from botocore.config import Config

    retries: dict[str, Any] = {"mode": "standard"}
    if config.max_attempts is not None:
        retries["total_max_attempts"] = config.max_attempts  # including the first
    session = boto3.session.Session()
    base = Config(retries=retries, max_pool_connections=32)
    s3_config = base.merge(Config(s3={"addressing_style": config.addressing_style}))
    s3 = session.client("s3", endpoint_url=config.endpoint_url, region_name=config.region, config=s3_config)
    sqs = session.client("sqs", endpoint_url=config.sqs_endpoint_url, region_name=config.region, config=base)
    return s3, sqs


def error_code(exc: BaseException) -> str:
    """The S3/SQS error code of a botocore ClientError ('' for transport errors)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else ""


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND_CODES


def is_precondition_failed(exc: BaseException) -> bool:
    return error_code(exc) in PRECONDITION_CODES


def describe_error(exc: BaseException) -> str:
    code = error_code(exc)
    return f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
