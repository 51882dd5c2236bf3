"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from WAB_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyMismatch(ValueError):
    """A secret saved by a process with another WAB_SECRET_KEY: this process cannot read it."""


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        # Any string works as WAB_SECRET_KEY: derive a proper 32-byte Fernet key from it.
        derived = hashlib.sha256(("whatsapp-builder:" + secret_key).encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyMismatch("secret cannot be decrypted with the current WAB_SECRET_KEY") from exc


MASKED = "********"


def mask(secret: str | None) -> str | None:
    """What the API shows of a secret: only that it is set."""
    return MASKED if secret else None
