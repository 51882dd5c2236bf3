from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_builder.db.base import Base, created_at_column, updated_at_column, uuid_pk


class WhatsAppConfig(Base):
    """The business's Cloud API number. `accessToken` and `appSecret` hold Fernet ciphertext, never plain text."""

    __tablename__ = "whatsapp_config"

    id: Mapped[uuid.UUID] = uuid_pk()
    phone_number_id: Mapped[str] = mapped_column("phoneNumberId", String(255), nullable=False)
    business_account_id: Mapped[str] = mapped_column("businessAccountId", String(255), nullable=False)
    access_token: Mapped[str] = mapped_column("accessToken", Text, nullable=False)
    webhook_verify_token: Mapped[str] = mapped_column("webhookVerifyToken", String(255), nullable=False)
    app_secret: Mapped[str | None] = mapped_column("appSecret", Text, nullable=True)
    is_active: Mapped[bool] = mapped_column("isActive", Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = created_at_column()
    # Extensions (migration 0011): where this config's Graph API calls go, and the last credential error.
    graph_api_url: Mapped[str | None] = mapped_column("graphApiUrl", String(500), nullable=True)
    last_error: Mapped[dict[str, Any] | None] = mapped_column("lastError", JSONB, nullable=True)
    updated_at: Mapped[dt.datetime] = updated_at_column()
    # Extension (migration 0019): this number's sending limit; null means the server's WAB_SEND_RATE_PER_SECOND.
    messages_per_second: Mapped[int | None] = mapped_column("messagesPerSecond", Integer, nullable=True)
    # Extension (migration 0023): the last delivery refused for a signature that does not match the app secret.
    last_webhook_refusal: Mapped[dict[str, Any] | None] = mapped_column("lastWebhookRefusal", JSONB, nullable=True)

    __table_args__ = (
        CheckConstraint('"messagesPerSecond" BETWEEN 1 AND 10000', name="messages_per_second_range"),
        Index(
            "uq_whatsapp_config_one_active",
            "isActive",
            unique=True,
            postgresql_where=text('"isActive" = true'),
        ),
    )
