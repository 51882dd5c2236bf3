from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatsapp_builder.db.base import Base, created_at_column, updated_at_column, uuid_pk
from whatsapp_builder.db.types import pg_enum
from whatsapp_builder.users.models import User


class MessageType(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
    STICKER = "sticker"
    INTERACTIVE = "interactive"
    REACTION = "reaction"


class MessageStatus(enum.StrEnum):
    # The seed's three, plus the outbox's `pending` (committed, not yet accepted by WhatsApp) and `failed`.
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


conversation_participants = Table(
    "conversation_participants",
    Base.metadata,
    Column(
        "conversationId",
        UUID(as_uuid=True),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("userId", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_conversation_participants_userId", "userId"),
)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[uuid.UUID] = uuid_pk()
    last_message: Mapped[str | None] = mapped_column("lastMessage", String(1000), nullable=True)
    last_message_at: Mapped[dt.datetime | None] = mapped_column(
        "lastMessageAt", DateTime(timezone=True), nullable=True
    )
    last_customer_message_at: Mapped[dt.datetime | None] = mapped_column(
        "lastCustomerMessageAt", DateTime(timezone=True), nullable=True
    )
    is_window_open: Mapped[bool] = mapped_column(
        "isWindowOpen", Boolean, nullable=False, server_default=text("true")
    )
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    participants: Mapped[list[User]] = relationship(
        User, secondary=conversation_participants, lazy="raise", order_by=User.created_at
    )

    __table_args__ = (
        Index(
            "idx_conversations_lastMessageAt_desc",
            text('"lastMessageAt" DESC NULLS LAST'),
        ),
    )


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = uuid_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        "conversationId",
        UUID(as_uuid=True),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(
        "senderId", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False
    )
    type: Mapped[MessageType] = mapped_column(
        "type", pg_enum(MessageType, "message_type"), nullable=False, server_default=text("'text'")
    )
    content: Mapped[Any] = mapped_column("content", JSONB, nullable=False)
    status: Mapped[MessageStatus] = mapped_column(
        "status", pg_enum(MessageStatus, "message_status"), nullable=False, server_default=text("'sent'")
    )
    timestamp: Mapped[dt.datetime] = mapped_column("timestamp", DateTime(timezone=True), nullable=False)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
    # Extensions (docs/schema.md): WhatsApp's own id, for idempotent webhooks and status updates,
    # and the error WhatsApp reported for a failed outbound message.
    whatsapp_message_id: Mapped[str | None] = mapped_column(
        "whatsappMessageId", String(255), nullable=True, unique=True
    )
    error: Mapped[dict[str, Any] | None] = mapped_column("error", JSONB, nullable=True)

    __table_args__ = (
        Index("idx_messages_conversationId_timestamp", "conversationId", text('"timestamp" DESC')),
        Index("idx_messages_content_gin", "content", postgresql_using="gin"),
        Index("ix_messages_senderId", "senderId"),
    )


class ConversationContext(Base):
    """Where a chatbot stands in one conversation: current node, variables and the path taken."""

    __tablename__ = "conversation_contexts"

    id: Mapped[uuid.UUID] = uuid_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        "conversationId",
        UUID(as_uuid=True),
        ForeignKey("conversations.id", ondelete="CASCADE", name="fk_conversation_context_conversation"),
        nullable=False,
    )
    chatbot_id: Mapped[uuid.UUID] = mapped_column(
        "chatbotId",
        UUID(as_uuid=True),
        ForeignKey("chatbots.id", ondelete="CASCADE", name="fk_conversation_context_chatbot"),
        nullable=False,
    )
    current_node_id: Mapped[str] = mapped_column("currentNodeId", String(255), nullable=False)
    variables: Mapped[dict[str, Any]] = mapped_column(
        "variables", JSONB, nullable=False, server_default=text("'{}'")
    )
    node_history: Mapped[list[str]] = mapped_column(
        "nodeHistory", JSONB, nullable=False, server_default=text("'[]'")
    )
    is_active: Mapped[bool] = mapped_column("isActive", Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    __table_args__ = (
        Index("idx_conversation_context_conversation", "conversationId"),
        Index("idx_conversation_context_chatbot", "chatbotId"),
        Index("idx_conversation_context_active", "isActive"),
        Index("idx_conversation_context_conversation_active", "conversationId", "isActive"),
    )
