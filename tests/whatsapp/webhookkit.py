"""Signed webhook payloads shaped as Meta documents them, for the tests that POST them to our server."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

APP_SECRET = "webhook-test-secret"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY = "15550783881"
VERIFY_TOKEN = "my-verify-token"


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PHONE_NUMBER_ID},
            **value,
        }}]}],
    }
