"""Opaque keyset cursors: a base64url-encoded JSON array of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from typing import Any

from whatsapp_builder.core.errors import AppError


class InvalidCursor(AppError):
    status_code = 400
    code = "invalid_cursor"


def encode_cursor(*parts: Any) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        return value

    raw = json.dumps([plain(p) for p in parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_time_id_cursor(cursor: str) -> tuple[dt.datetime | None, uuid.UUID]:
    """Decode a `(timestamp or null, id)` cursor; any tampering is a 400, never a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) != 2:
            raise ValueError("cursor must hold two parts")
        stamp = None if parts[0] is None else dt.datetime.fromisoformat(str(parts[0]))
        if stamp is not None and stamp.tzinfo is None:
            raise ValueError("cursor time must carry a time zone")
        return stamp, uuid.UUID(str(parts[1]))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCursor("The cursor is not valid; use nextCursor from a previous page.") from exc
