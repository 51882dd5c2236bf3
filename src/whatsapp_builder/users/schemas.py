from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from whatsapp_builder.core.phone import normalize_e164
from whatsapp_builder.core.schemas import CamelInput, CamelModel, storable_text


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _web_address(value: str | None) -> str | None:
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http or https URL")
    return value


# International, with or without the "+" (WhatsApp's wa_id form, "14155550123", is the same number).
PhoneNumber = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(normalize_e164)]
# Trimmed: a name of only spaces is no name (the inbox would show nothing).
# The length is the inner str's own constraint: placed after the BeforeValidator, pydantic checked it as a
# sequence's and said "at most 100 items" about a name.
Name = Annotated[
    Annotated[str, Field(min_length=1, max_length=100)], BeforeValidator(_stripped), AfterValidator(storable_text)
]
Avatar = Annotated[
    str | None, Field(default=None, max_length=500), AfterValidator(storable_text), AfterValidator(_web_address)
]


class UserCreate(CamelInput):
    phone_number: PhoneNumber
    name: Name
    avatar: Avatar = None


class UserUpdate(CamelInput):
    not_nullable = frozenset({"phone_number", "name"})

    phone_number: PhoneNumber | None = None
    name: Name | None = None
    avatar: Avatar = None


class UserOut(CamelModel):
    id: uuid.UUID
    phone_number: str | None
    bsuid: str | None = None
    username: str | None = None
    name: str
    avatar: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
