"""Base models for the API: Python attributes in snake_case, JSON in the seed's camelCase."""

from __future__ import annotations

import datetime as dt
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class CamelInput(CamelModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


ItemT = TypeVar("ItemT")


class Page(CamelModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = None


def api_time(value: dt.datetime) -> str:
    """A time as the API's models write it (pydantic): ISO 8601, with UTC as "Z". Payloads built by hand (the
    real-time events) use it, so that a client can compare an event's times with a REST item's as strings."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
