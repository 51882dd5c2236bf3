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
    assert math.isnan(fastjson.loads(b"NaN"))
    for bad in (b'{"object": ', b"\xff\xfe\x00", b""):
        with pytest.raises(ValueError):
            fastjson.loads(bad)


def test_dumps_matches_the_standard_library() -> None:
    value = {"a": [1, 2.5, None, True, "é"], "big": 2**70, "half": "\ud800"}
    assert json.loads(fastjson.dumps(value)) == value


def test_rows_carry_uuids_and_datetimes_as_postgresql_reads_them() -> None:
    ident = uuid.uuid4()
    when = dt.datetime(2026, 11, 25, 7, 30, 1, 123456, tzinfo=dt.UTC)
    assert json.loads(json_rows([(ident, when, {"k": "v"}, None)])) == [
        [str(ident), "2026-11-25T07:30:01.123456+00:00", {"k": "v"}, None]
    ]
