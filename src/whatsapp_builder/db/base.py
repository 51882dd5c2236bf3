"""Declarative base, shared column helpers and the naming convention that gives every constraint a stable name."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, MetaData, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def created_at_column() -> Mapped[dt.datetime]:
    return mapped_column("createdAt", DateTime(timezone=True), nullable=False, server_default=func.now())


def updated_at_column() -> Mapped[dt.datetime]:
    return mapped_column(
        "updatedAt", DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )
