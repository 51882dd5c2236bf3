"""Base models for the API: Python attributes in snake_case, JSON in the seed's camelCase."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class CamelInput(CamelModel):
    """Request bodies: unknown fields are an error, not silently dropped; so is an explicit null for a field
    that can be left out (a partial update) but has no null value to be set to (`not_nullable`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_null_where_none_is_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        # Per field, so that the error names it (a model-level error has no field). Runs only for values given.
        if value is None and info.field_name in cls.not_nullable:
            raise ValueError("cannot be null: leave it out to keep its value")
        return value


ItemT = TypeVar("ItemT")


class Page(CamelModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = None


def api_time(value: dt.datetime) -> str:
    """A time as the API's models write it (pydantic): ISO 8601, with UTC as "Z". Payloads built by hand (the
    real-time events) use it, so that a client can compare an event's times with a REST item's as strings."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def utf8_text(value: object) -> bool:
    """Whether every string in `value` (keys included) can be written as UTF-8: half a surrogate pair ("\\ud800"
    in JSON) cannot, so it can be neither stored nor answered."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(utf8_text(k) and utf8_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(utf8_text(v) for v in value)
    return True


def text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (U+0000, half a surrogate pair), or None."""
    if "\x00" in text:
        return "holds U+0000 (NUL), which PostgreSQL cannot store"
    if not utf8_text(text):
        return "holds half a surrogate pair, which is no text"
    return None


def storable_text(value: str | None) -> str | None:
    """A pydantic AfterValidator: refuse text PostgreSQL cannot store, with the reason (a 422 naming the field,
    where the database would refuse it with none, or psycopg fail to encode it with a 500)."""
    problem = text_problem(value) if value is not None else None
    if problem:
        raise ValueError(problem)
    return value
