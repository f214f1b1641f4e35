"""The one exception tree of stylecloak.

Every error that stylecloak raises on purpose is a ``StylecloakError``. Third-party errors (Pillow,
torch, httpx, botocore) are translated at the boundary where they occur, with ``raise ... from exc``,
so callers never have to catch a library's own exceptions.

    StylecloakError
    ├── ImageError                      the input is not something we can cloak (a 4xx for a server)
    │   ├── InvalidImageError           not an image at all, or undecodable
    │   │   └── TruncatedImageError     an image whose data stops early
    │   ├── UnsupportedImageError       an image we refuse on purpose (animated, bilevel, unknown format)
    │   ├── ImageTooLargeError          over the byte or pixel limits, or a decompression bomb
    │   ├── ImageTooSmallError          under the minimum side length
    │   └── BudgetExceededError         no cloak of this image fits the perceptual budget once saved
    ├── AlreadyCloakedError             the image carries stylecloak's marker, and it verifies
    ├── CloakFailedError                the optimisation diverged; nothing was written
    ├── RequestTimeoutError             a client sent its request too slowly (408)
    ├── OutputError                     the CLI cannot write an output where it was asked to
    ├── ConfigurationError              settings or arguments that cannot work together
    │   └── UnknownStyleError           a target style name that is not in the catalogue
    ├── ModelError                      feature-extractor weights and their loading
    │   ├── ModelNotFoundError          weights not on disk; the message says how to get them
    │   ├── ModelCorruptError           weights on disk whose hash does not match the pinned one
    │   └── DownloadError               `stylecloak models pull` could not fetch or verify a file
    ├── MissingExtraError               an optional dependency is not installed; names the extra
    ├── UploadTooLargeError             a request body over the middleware's limits (413)
    ├── MalformedUploadError            a multipart body the middleware cannot read safely (400)
    ├── ProtectionUnavailableError      fail_closed: the upload could not be protected now (503)
    ├── MalformedEventError             an S3/SQS message that is not an event we can read (dead letter)
    └── RemoteError                     the remote backend (Serve endpoint) failed
        ├── UnauthorizedError           401/403
        ├── OverloadedError             503/429 after the retries ran out
        ├── RemoteTimeoutError          no answer within the timeout
        ├── JobFailedError              an async job ended in the failed state
        ├── JobCancelledError           an async job was cancelled
        ├── JobNotFoundError            no job with this id (404)
        ├── JobNotReadyError            a job's result asked for before it succeeded (409)
        ├── StoreUnavailableError       the job store could not be read or written (503)
        └── ServerError                 any other 5xx, or an answer we cannot read
            └── WorkerLostError         the worker replica died holding the request (503)

Each error carries a stable ``code`` (a short snake_case string) and an HTTP ``status`` so that the
server, the middleware and the client agree on how to report it.
"""

from __future__ import annotations


class StylecloakError(Exception):
    """Base of every error stylecloak raises."""

    code: str = "stylecloak_error"
    status: int = 500

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries as themselves (a Serve worker's result): rebuild from the
        # attributes, since a subclass's constructor may take other arguments (MissingExtraError).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def to_dict(self) -> dict[str, str | int]:
        """The JSON body a server sends for this error."""
        body: dict[str, str | int] = {"error": self.code, "message": self.message, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        return body


class ImageError(StylecloakError):
    code = "invalid_image"
    status = 400


class InvalidImageError(ImageError):
    code = "invalid_image"
    status = 400


class TruncatedImageError(InvalidImageError):
    code = "truncated_image"
    status = 400


class UnsupportedImageError(ImageError):
    code = "unsupported_image"
    status = 415


class ImageTooLargeError(ImageError):
    code = "image_too_large"
    status = 413


class ImageTooSmallError(ImageError):
    code = "image_too_small"
    status = 422


class BudgetExceededError(ImageError):
    """The saved file would exceed the perceptual budget even with the faintest cloak (the format's
    own error, such as a GIF palette's dither, uses it up). Never returned as a success."""

    code = "budget_exceeded"
    status = 422


class AlreadyCloakedError(StylecloakError):
    code = "already_cloaked"
    status = 409


class CloakFailedError(StylecloakError):
    """The engine produced no usable cloak (a non-finite perturbation); a bug to report, not bad input."""

    code = "cloak_failed"
    status = 500


class RequestTimeoutError(StylecloakError):
    """The request (its body) did not arrive within the server's read timeouts."""

    code = "request_timeout"
    status = 408


class OutputError(StylecloakError):
    """An output cannot be written: it would overwrite an input or another output, or the path is unusable."""

    code = "output_error"
    status = 400


class ConfigurationError(StylecloakError):
    code = "configuration_error"
    status = 400


class UnknownStyleError(ConfigurationError):
    code = "unknown_style"
    status = 400


class ModelError(StylecloakError):
    code = "model_error"
    status = 500


class ModelNotFoundError(ModelError):
    code = "model_not_found"


class ModelCorruptError(ModelError):
    code = "model_corrupt"


class DownloadError(ModelError):
    code = "download_failed"


class MissingExtraError(StylecloakError, ImportError):
    """An optional dependency is missing. The message names the ``pip install`` that fixes it."""

    code = "missing_extra"

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed; install it with: pip install 'stylecloak[{extra}]'")
        self.package = package
        self.extra = extra


class RemoteError(StylecloakError):
    code = "remote_error"
    status = 502


class UnauthorizedError(RemoteError):
    code = "unauthorized"
    status = 401


class OverloadedError(RemoteError):
    code = "overloaded"
    status = 503


class RemoteTimeoutError(RemoteError):
    code = "timeout"
    status = 504


class JobFailedError(RemoteError):
    code = "job_failed"
    status = 500


class JobCancelledError(RemoteError):
    code = "job_cancelled"
    status = 409


class ServerError(RemoteError):
    code = "server_error"
    status = 502


class JobNotFoundError(RemoteError):
    """No job with this id (never submitted, deleted, or expired from the store)."""

    code = "job_not_found"
    status = 404


class JobNotReadyError(RemoteError):
    """The job's result was asked for before the job succeeded."""

    code = "job_not_ready"
    status = 409


class StoreUnavailableError(RemoteError):
    """The job store could not be read or written (a 503: the caller may retry)."""

    code = "store_unavailable"
    status = 503


class WorkerLostError(ServerError):
    """The worker replica died while it held the request (the request may be tried again)."""

    code = "worker_lost"
    status = 503


class UploadTooLargeError(StylecloakError):
    code = "upload_too_large"
    status = 413


class MalformedUploadError(StylecloakError):
    code = "malformed_upload"
    status = 400


class ProtectionUnavailableError(StylecloakError):
    code = "protection_unavailable"
    status = 503


class MalformedEventError(StylecloakError):
    """A message that is not an S3 event notification we can read (dead-lettered, never retried)."""

    code = "malformed_event"
    status = 400


#: Every concrete error by its ``code``, so a client can rebuild the error a server reported.
ERRORS_BY_CODE: dict[str, type[StylecloakError]] = {
    cls.code: cls
    for cls in (
        InvalidImageError,
        TruncatedImageError,
        UnsupportedImageError,
        ImageTooLargeError,
        ImageTooSmallError,
        BudgetExceededError,
        AlreadyCloakedError,
        CloakFailedError,
        RequestTimeoutError,
        OutputError,
        ConfigurationError,
        UnknownStyleError,
        ModelNotFoundError,
        ModelCorruptError,
        DownloadError,
        UnauthorizedError,
        OverloadedError,
        RemoteTimeoutError,
        JobFailedError,
        JobCancelledError,
        JobNotFoundError,
        JobNotReadyError,
        StoreUnavailableError,
        ServerError,
        WorkerLostError,
        UploadTooLargeError,
        MalformedUploadError,
        ProtectionUnavailableError,
        MalformedEventError,
    )
}


def _rebuild(cls: type[StylecloakError], message: str, state: dict[str, object]) -> StylecloakError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
