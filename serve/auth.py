"""Bearer-token auth: tokens from the config, ``STYLECLOAK_TOKEN``, or a mounted secret file.

Only SHA-256 digests of the tokens are kept (and, for tokens given in code, sent to the replicas:
:meth:`~stylecloak.serve.config.AppConfig.sealed`), so Ray's store never holds a usable token.

The file holds one token per line (blank lines and ``#`` comments ignored) and is re-read when it
changes, so a rotated Kubernetes secret takes effect without a restart; list the old and the new
token during a rotation. Every comparison is constant-time (:func:`hmac.compare_digest`) and runs
against every token, so timing tells nothing about which one nearly matched.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from pathlib import Path

from stylecloak.errors import ConfigurationError, UnauthorizedError
from stylecloak.settings import Settings

from .config import AppConfig


class TokenAuth:
    def __init__(
        self,
        tokens: tuple[str, ...] = (),
        *,
        digests: tuple[str, ...] = (),
        tokens_file: Path | None = None,
        anonymous: bool = False,
    ):
        self._static = tuple(_digest(token) for token in tokens if token) + tuple(bytes.fromhex(d) for d in digests)
        self.tokens_file = tokens_file
        self.anonymous = anonymous
        self._file_state: tuple[float, int] | None = None
        self._file_tokens: tuple[bytes, ...] = ()
        self._lock = threading.Lock()
        if not anonymous and not self._static and tokens_file is None:
            raise ConfigurationError(
                "no bearer token configured: set STYLECLOAK_TOKEN, tokens_file, or allow_anonymous for local tests"
            )
        if tokens_file is not None:
            self._reload()  # fail at start-up, not on the first request, if the secret is missing

    @classmethod
    def from_config(cls, config: AppConfig, settings: Settings) -> TokenAuth:
        tokens = [secret.get_secret_value() for secret in config.tokens]
        if settings.token is not None:
            tokens.append(settings.token.get_secret_value())
        return cls(
            tuple(tokens), digests=config.token_sha256, tokens_file=config.tokens_file, anonymous=config.allow_anonymous
        )

    def _reload(self) -> None:
        assert self.tokens_file is not None
        try:
            stat = os.stat(self.tokens_file)
            state = (stat.st_mtime, stat.st_size)
            if state == self._file_state:
                return
            lines = self.tokens_file.read_text().splitlines()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the tokens file {self.tokens_file}: {exc.strerror}") from exc
        tokens = tuple(_digest(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#"))
        if not tokens and not self._static and not self.anonymous:
            raise ConfigurationError(f"the tokens file {self.tokens_file} holds no token")
        self._file_tokens, self._file_state = tokens, state

    def check(self, authorization: str | None) -> None:
        """Raise :class:`UnauthorizedError` unless ``authorization`` is ``Bearer <a valid token>``."""
        if self.anonymous:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("a bearer token is required (Authorization: Bearer <token>)")
        if self.tokens_file is not None:
            # Keep the last good tokens while a secret is being replaced.
            with self._lock, contextlib.suppress(ConfigurationError):
                self._reload()
        offered = _digest(token.strip())
        # Compare with every token (no early exit): equal work whichever one matches.
        matched = False
        for known in (*self._static, *self._file_tokens):
            matched |= hmac.compare_digest(offered, known)
        if not matched:
            raise UnauthorizedError("the bearer token is not valid")


def _digest(token: str) -> bytes:
    # Equal-length digests make compare_digest's time independent of the tokens' lengths too.
    return hashlib.sha256(token.encode()).digest()
