from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_builder.db.base import Base, created_at_column, updated_at_column, uuid_pk


class User(Base):
    """A person in a conversation: a WhatsApp customer, or the business's own number."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    # Nullable since migration 0006: a customer may be known only by a business-scoped user id (docs/schema.md).
    phone_number: Mapped[str | None] = mapped_column("phoneNumber", String(20), nullable=True, unique=True)
    name: Mapped[str] = mapped_column("name", String(100), nullable=False)
    avatar: Mapped[str | None] = mapped_column("avatar", String(500), nullable=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
    bsuid: Mapped[str | None] = mapped_column("bsuid", String(160), nullable=True, unique=True)
    username: Mapped[str | None] = mapped_column("username", String(100), nullable=True)

    __table_args__ = (CheckConstraint('"phoneNumber" IS NOT NULL OR bsuid IS NOT NULL', name="phone_or_bsuid"),)
