"""Titles a person can read for WhatsApp's errors.

Meta's send errors carry no title field: the title is part of the message (``"(#131026) Message Undeliverable."``),
``type`` is the Graph API's exception class (``OAuthException``, useless to an operator), and a few answers add
``error_user_title``/``error_user_msg``. Status webhooks' errors do have a ``title``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# Meta's titles of the codes we meet most (its error-code reference), for answers whose message carries none.
KNOWN_TITLES: Mapping[int, str] = MappingProxyType(
    {
        0: "Authentication failed",
        1: "API unknown error",
        2: "API service temporarily unavailable",
        4: "Application request limit reached",
        10: "Permission denied",
        100: "Invalid parameter",
        190: "Access token is invalid or has expired",
        200: "Permission denied",
        368: "Temporarily blocked for policy violations",
        80007: "Rate limit issues",
        130429: "Rate limit hit",
        131000: "Something went wrong",
        131005: "Access denied",
        131008: "Required parameter is missing",
        131009: "Parameter value is not valid",
        131016: "Service unavailable",
        131021: "Recipient cannot be sender",
        131026: "Message Undeliverable",
        131031: "Account has been locked",
        131042: "Business eligibility payment issue",
        131045: "Incorrect certificate",
        131047: "Re-engagement message",
        131049: "Not delivered to maintain healthy ecosystem engagement",
        131050: "Recipient stopped marketing messages",
        131051: "Unsupported message type",
        131052: "Media download error",
        131053: "Media upload error",
        131056: "Pair rate limit hit",
        132000: "Template parameter count mismatch",
        132001: "Template does not exist",
        133010: "Phone number not registered",
    }
)

# Meta writes an error's title into its message, after the code: "(#131026) Message Undeliverable."
_CODE_PREFIX = re.compile(r"\(#\d+\)\s*")


def error_title(code: int | None, message: str | None, user_title: str | None = None) -> str | None:
    """A title a person can read: Meta's `error_user_title`, else the title in the message after its "(#code)"
    prefix, else our title for the code, else the message itself."""
    if user_title and user_title.strip():
        return user_title.strip()
    if message:
        prefix = _CODE_PREFIX.match(message)
        if prefix is not None:
            title = message[prefix.end() :].strip().removesuffix(".").strip()
            if title:
                return title
    if code is not None and code in KNOWN_TITLES:
        return KNOWN_TITLES[code]
    if message and message.strip():
        return message.strip()
    return None
