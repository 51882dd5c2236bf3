from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_builder.db.base import Base, created_at_column, uuid_pk


class ApiToken(Base):
    """An API token. Only its SHA-256 is stored; the token itself is shown once, when created."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column("name", String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column("tokenHash", String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column("prefix", String(16), nullable=False)
    created_at: Mapped[dt.datetime] = created_at_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column("lastUsedAt", DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column("revokedAt", DateTime(timezone=True), nullable=True)
