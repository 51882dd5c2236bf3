"""The hot paths' JSON accepts and produces what the standard library's does."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid

import pytest

from whatsapp_builder.core import fastjson
from whatsapp_builder.core.rows import json_rows


def test_loads_falls_back_for_what_orjson_refuses() -> None:
    assert fastjson.loads(b'{"text": "half \\ud83d pair"}') == {"text": "half \ud83d pair"}
    assert math.isinf(fastjson.loads(b"[1e400]")[0])  # JSON's grammar allows it; it is stored as null
    for bad in (b'{"object": ', b"\xff\xfe\x00", b""):
        with pytest.raises(ValueError):
            fastjson.loads(bad)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_constants_the_standard_library_takes_are_not_json(constant: str) -> None:
    """Both parsers refuse them (the fallback took them), with their place, also after half a surrogate pair
    (which sends the body to the fallback)."""
    for text in (f'{{"a": "NaN", "b": [1, {constant}]}}', f'{{"a": "\\ud83d", "b": [1, {constant}]}}'):
        for parse in (fastjson.loads, fastjson.standard_loads):
            with pytest.raises(json.JSONDecodeError) as refused:
                parse(text.encode())
            assert refused.value.pos == text.index(f" {constant}") + 1, (parse, text)
            assert f"{constant} is not a JSON value" in str(refused.value)
    assert fastjson.standard_loads('{"a": "NaN"}'.encode("utf-16")) == {"a": "NaN"}  # its encodings, as before


def test_dumps_matches_the_standard_library() -> None:
    value = {"a": [1, 2.5, None, True, "é"], "big": 2**70, "half": "\ud800"}
    assert json.loads(fastjson.dumps(value)) == value


def test_rows_carry_uuids_and_datetimes_as_postgresql_reads_them() -> None:
    ident = uuid.uuid4()
    when = dt.datetime(2026, 11, 25, 7, 30, 1, 123456, tzinfo=dt.UTC)
    assert json.loads(json_rows([(ident, when, {"k": "v"}, None)])) == [
        [str(ident), "2026-11-25T07:30:01.123456+00:00", {"k": "v"}, None]
    ]
