"""Many rows as one query parameter: a JSON array of arrays, unpacked in SQL with `jsonb_array_elements`.

psycopg dumps a Python list as a PostgreSQL array element by element, in Python, escaping every JSON document
placed in a `jsonb[]`: 50 µs per row of a message insert, against under 10 µs to encode the same rows as one
JSON document with the standard library (and under 1 µs with orjson). The hot paths' multi-row statements take
their rows this way:

    INSERT INTO t (a, b) SELECT (r->>0)::uuid, r->1 FROM jsonb_array_elements(%s::jsonb) AS x(r)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from whatsapp_builder.core import fastjson


def _encode(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Jsonb):
        return value.obj
    raise TypeError(f"{type(value).__name__} cannot be a JSON row value")


def json_rows(rows: Iterable[Sequence[Any]]) -> str:
    """`rows` as one JSON array of arrays (UUIDs and datetimes as strings), for `%s::jsonb`."""
    return fastjson.dumps(list(rows), default=_encode).decode()
