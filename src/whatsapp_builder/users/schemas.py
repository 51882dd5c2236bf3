from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field

from whatsapp_builder.core.phone import normalize_e164
from whatsapp_builder.core.schemas import CamelInput, CamelModel

PhoneNumber = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(normalize_e164)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class UserCreate(CamelInput):
    phone_number: PhoneNumber
    name: Name
    avatar: Annotated[str | None, Field(default=None, max_length=500)] = None


class UserUpdate(CamelInput):
    not_nullable = frozenset({"phone_number", "name"})

    phone_number: PhoneNumber | None = None
    name: Name | None = None
    avatar: Annotated[str | None, Field(default=None, max_length=500)] = None


class UserOut(CamelModel):
    id: uuid.UUID
    phone_number: str | None
    bsuid: str | None = None
    username: str | None = None
    name: str
    avatar: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
