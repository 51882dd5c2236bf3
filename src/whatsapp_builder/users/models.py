from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String
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
    # Extension (migration 0022): the WhatsApp time of the message whose profile is stored; an older message's
    # (delivered late) neither renames the customer nor takes back a phone number that changed hands since.
    profile_at: Mapped[dt.datetime | None] = mapped_column("profileAt", DateTime(timezone=True), nullable=True)

    __table_args__ = (CheckConstraint('"phoneNumber" IS NOT NULL OR bsuid IS NOT NULL', name="phone_or_bsuid"),)


class PreviousIdentity(Base):
    """A phone number or business-scoped user id (BSUID) a customer left when WhatsApp told us they changed number
    or BSUID. Meta delivers late and out of order, so messages from the old identity (written before the change,
    or redelivered) still come after the notice: they are the customer's who moved, not a new customer's."""

    __tablename__ = "user_previous_identities"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column("userId", ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    phone_number: Mapped[str | None] = mapped_column("phoneNumber", String(20), nullable=True)
    bsuid: Mapped[str | None] = mapped_column("bsuid", String(160), nullable=True)
    # The notice's own time: a message from the old number written after it may be from the number's next owner.
    changed_at: Mapped[dt.datetime] = mapped_column("changedAt", DateTime(timezone=True), nullable=False)
    created_at: Mapped[dt.datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint('"phoneNumber" IS NOT NULL OR bsuid IS NOT NULL', name="phone_or_bsuid"),
        Index("ix_user_previous_identities_phoneNumber", "phoneNumber"),
        Index("ix_user_previous_identities_bsuid", "bsuid"),
        Index("ix_user_previous_identities_userId", "userId"),
    )
