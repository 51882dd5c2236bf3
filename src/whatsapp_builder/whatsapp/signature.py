"""X-Hub-Signature-256 signing and verification for WhatsApp webhooks."""

from __future__ import annotations

import enum
import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


class SignatureCheck(enum.Enum):
    """Outcome of checking a webhook signature."""

    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"


def sign(body: bytes, app_secret: str) -> str:
    """Return the header value Meta would send for ``body``: ``sha256=<hex>``."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(body: bytes, header: str | None, app_secret: str) -> SignatureCheck:
    """Check ``header`` against the HMAC-SHA256 of the raw ``body`` in constant time."""
    if header is None or not header.strip():
        return SignatureCheck.MISSING
    value = header.strip()
    if not value.lower().startswith(_PREFIX):
        return SignatureCheck.INVALID
    received = value[len(_PREFIX) :].lower()
    expected = sign(body, app_secret)[len(_PREFIX) :]
    if hmac.compare_digest(received.encode("ascii", "replace"), expected.encode("ascii")):
        return SignatureCheck.OK
    return SignatureCheck.INVALID
