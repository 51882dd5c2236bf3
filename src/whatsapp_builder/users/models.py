from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_builder.db.base import Base, created_at_column, updated_at_column, uuid_pk


class User(Base):
    """A person in a conversation: a WhatsApp customer, or the business's own number."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    phone_number: Mapped[str] = mapped_column("phoneNumber", String(20), nullable=False, unique=True)
    name: Mapped[str] = mapped_column("name", String(100), nullable=False)
    avatar: Mapped[str | None] = mapped_column("avatar", String(500), nullable=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
