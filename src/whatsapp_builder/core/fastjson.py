"""JSON on the hot paths through orjson (an order of magnitude faster to encode than the standard library),
falling back to the standard library for what orjson refuses and the standard library accepts: half of a
surrogate pair (which ingest then mends), a number too large for a float (`1e400`: JSON's grammar allows it, the
standard library reads it as infinity, which is stored as null), and, when encoding, integers beyond 64 bits.
(Decoding such an integer, orjson gives a float; no WhatsApp payload has one: its ids and timestamps are strings.)

What the standard library also accepts but is not JSON at all (RFC 8259) is refused by both: `NaN`, `Infinity`
and `-Infinity`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson


class _NotJson(ValueError):
    """Raised from the standard library's parser when it meets `NaN`, `Infinity` or `-Infinity`."""

    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _refuse_constant(constant: str) -> Any:
    raise _NotJson(constant)


# A string (skipped whole, whatever it holds), or one of the constants outside strings.
_CONSTANTS = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)', re.DOTALL)


def _position(text: str, constant: str) -> int:
    """Where `constant`, the first the parser met, is in `text` (the parser's hook is not told)."""
    for match in _CONSTANTS.finditer(text):
        if match.group(1) == constant:
            return match.start(1)
    return 0


def standard_loads(data: bytes | str) -> Any:
    """`json.loads` (the same encodings: given bytes, UTF-8, -16 or -32), without the constants it takes that are
    not JSON: `NaN`, `Infinity` and `-Infinity` raise `json.JSONDecodeError` at their place."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except _NotJson as exc:
        text = data if isinstance(data, str) else data.decode(json.detect_encoding(data), "surrogatepass")
        message = f"{exc.constant} is not a JSON value"
        raise json.JSONDecodeError(message, text, _position(text, exc.constant)) from None


def loads(data: bytes | str) -> Any:
    """`json.loads`, faster, and without `NaN` and the infinities. Raises ValueError (or UnicodeDecodeError) when
    the data is not JSON (UTF-8 only), or nests deeper than either parser goes (orjson stops at 1,024 levels, the
    standard library at its recursion limit)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            # Decoded here: given bytes, the standard library would also take UTF-16 and UTF-32, which JSON
            # exchanged between systems must not be (RFC 8259), and orjson refuses.
            return standard_loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON; UUIDs and datetimes as strings (ISO 8601), other types through `default`."""
    try:
        return orjson.dumps(value, default=default)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default, separators=(",", ":")).encode()


# Every byte but a digit as ".", digits as "0": a run of 19 digits is then one `in` away (C speed, about 2 µs a
# kilobyte; a regular expression took five times as long).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_NINETEEN_DIGITS = b"0" * 19


def exact_loads(data: bytes | str) -> Any:
    """`loads` for JSON this server stored (the pool's JSON and JSONB columns): orjson reads an integer beyond 64
    bits as a float (a 22-digit tracking number answered to a number question came back 1.2345678901234568e+21
    at the next turn), so a document with 19 digits in a row anywhere (the shortest integer orjson does not keep;
    in a string too: rare, and then merely slower) is read by the standard library, which keeps every integer."""
    if isinstance(data, str):
        data = data.encode()
    if _NINETEEN_DIGITS in data.translate(_DIGITS_ONLY):
        return json.loads(data)
    return orjson.loads(data)
