"""Opaque keyset cursors: a base64url-encoded JSON array of the last row's sort key and the list it belongs to."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid

from whatsapp_builder.core.errors import AppError

# Ours are under 200 characters (a time, a UUID and a scope naming at most a conversation).
MAX_CURSOR_LENGTH = 1024


class InvalidCursor(AppError):
    status_code = 400
    code = "invalid_cursor"


def encode_cursor(stamp: dt.datetime | None, row_id: uuid.UUID, *, scope: str) -> str:
    """The cursor after the row (`stamp`, `row_id`) of the list named `scope` (e.g. "conversations", or
    "messages:<conversation id>"): a cursor is refused by any other list."""
    parts = [stamp.isoformat() if stamp is not None else None, str(row_id), scope]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_time_id_cursor(cursor: str, *, scope: str) -> tuple[dt.datetime | None, uuid.UUID]:
    """Decode a `(timestamp or null, id)` cursor of the list `scope`; any tampering, or a cursor of another
    list, is a 400, never a 500 nor a page of the wrong list."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("The cursor is not valid for this list; use nextCursor from its previous page.")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) != 3 or parts[2] != scope:
            raise ValueError("cursor of another list")
        stamp = None if parts[0] is None else dt.datetime.fromisoformat(str(parts[0]))
        if stamp is not None and stamp.tzinfo is None:
            raise ValueError("cursor time must carry a time zone")
        return stamp, uuid.UUID(str(parts[1]))
    # RecursionError: JSON nested thousands deep (a crafted cursor of a few KB).
    except (ValueError, TypeError, RecursionError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCursor("The cursor is not valid for this list; use nextCursor from its previous page.") from exc
