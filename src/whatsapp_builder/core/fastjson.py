"""JSON on the hot paths through orjson (an order of magnitude faster to encode than the standard library),
falling back to the standard library for what orjson refuses and the standard library accepts: half of a
surrogate pair (which ingest then mends), NaN, and, when encoding, integers beyond 64 bits. (Decoding such an
integer, orjson gives a float; no WhatsApp payload has one: its ids and timestamps are strings.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """`json.loads`, faster. Raises ValueError (or UnicodeDecodeError) when the data is not JSON, or nests
    deeper than either parser goes (orjson stops at 1,024 levels, the standard library at its recursion limit)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            # Decoded here: given bytes, the standard library would also take UTF-16 and UTF-32, which JSON
            # exchanged between systems must not be (RFC 8259), and orjson refuses.
            return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON; UUIDs and datetimes as strings (ISO 8601), other types through `default`."""
    try:
        return orjson.dumps(value, default=default)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default, separators=(",", ":")).encode()
