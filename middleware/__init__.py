"""Framework-neutral upload interception: the policy, the core, and the WSGI and ASGI middleware.

    from stylecloak.middleware import StylecloakWSGI, UploadPolicy
    app.wsgi_app = StylecloakWSGI(app.wsgi_app, policy=UploadPolicy(fields=("artwork",)))

Importing this package imports no web framework; the framework shells live in
:mod:`stylecloak.adapters`.
"""

from __future__ import annotations

from stylecloak.errors import MalformedUploadError, ProtectionUnavailableError, UploadTooLargeError
from stylecloak.middleware.asgi import StylecloakASGI
from stylecloak.middleware.core import HEADER, DeferredUpload, Outcome, Upload, UploadProtector
from stylecloak.middleware.deferred import BackgroundCloaker
from stylecloak.middleware.policy import UploadPolicy
from stylecloak.middleware.wsgi import StylecloakWSGI

__all__ = [
    "HEADER",
    "BackgroundCloaker",
    "DeferredUpload",
    "MalformedUploadError",
    "Outcome",
    "ProtectionUnavailableError",
    "StylecloakASGI",
    "StylecloakWSGI",
    "Upload",
    "UploadPolicy",
    "UploadProtector",
    "UploadTooLargeError",
]
