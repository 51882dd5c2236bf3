from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
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
    # Extensions (migration 0007): kinds the Cloud API delivers or we send that the seed lacks.
    LOCATION = "location"
    CONTACTS = "contacts"
    BUTTON = "button"
    TEMPLATE = "template"
    ORDER = "order"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"


class MessageDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageAuthor(enum.StrEnum):
    """Who wrote a message: the customer, a chatbot's flow, or an operator (the inbox or the API)."""

    CUSTOMER = "customer"
    BOT = "bot"
    OPERATOR = "operator"


class MessageStatus(enum.StrEnum):
    # The seed's three, plus the outbox's `pending` (committed, not yet accepted by WhatsApp) and `failed`, and
    # `played` (a voice message of ours the customer listened to; after `read`).
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    PLAYED = "played"


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
    last_message_at: Mapped[dt.datetime | None] = mapped_column("lastMessageAt", DateTime(timezone=True), nullable=True)
    last_customer_message_at: Mapped[dt.datetime | None] = mapped_column(
        "lastCustomerMessageAt", DateTime(timezone=True), nullable=True
    )
    is_window_open: Mapped[bool] = mapped_column("isWindowOpen", Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    # Extensions (migration 0006): the customer and business number of a 1:1 WhatsApp conversation.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        "customerId", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    whatsapp_phone_number_id: Mapped[str | None] = mapped_column("whatsappPhoneNumberId", String(255), nullable=True)
    # Extension (migration 0010): a human has taken over; the bot stays silent until handed back.
    is_handed_off: Mapped[bool] = mapped_column("isHandedOff", Boolean, nullable=False, server_default=text("false"))

    participants: Mapped[list[User]] = relationship(
        User, secondary=conversation_participants, lazy="raise", order_by=User.created_at
    )

    __table_args__ = (
        Index(
            "idx_conversations_lastMessageAt_desc",
            text('"lastMessageAt" DESC NULLS LAST'),
        ),
        UniqueConstraint("whatsappPhoneNumberId", "customerId"),
        Index("ix_conversations_customerId", "customerId"),
        # Extension (migration 0026): the inbox's order, its last message's time or, with none yet, its making's.
        Index("ix_conversations_activity", text('COALESCE("lastMessageAt", "createdAt") DESC'), text("id DESC")),
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
    sender_id: Mapped[uuid.UUID] = mapped_column("senderId", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
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
    direction: Mapped[MessageDirection | None] = mapped_column(
        "direction", pg_enum(MessageDirection, "message_direction"), nullable=True
    )
    sent_by: Mapped[MessageAuthor | None] = mapped_column(
        "sentBy", pg_enum(MessageAuthor, "message_author"), nullable=True
    )

    __table_args__ = (
        Index("idx_messages_conversationId_timestamp", "conversationId", text('"timestamp" DESC')),
        Index("idx_messages_content_gin", "content", postgresql_using="gin"),
        Index("ix_messages_senderId", "senderId"),
        Index(
            "ix_messages_unread", "conversationId", postgresql_where=text("direction = 'inbound' AND status <> 'read'")
        ),
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
    variables: Mapped[dict[str, Any]] = mapped_column("variables", JSONB, nullable=False, server_default=text("'{}'"))
    node_history: Mapped[list[str]] = mapped_column("nodeHistory", JSONB, nullable=False, server_default=text("'[]'"))
    is_active: Mapped[bool] = mapped_column("isActive", Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
    # Extension (migration 0010): the engine's bookkeeping, apart from the user-visible variables.
    engine_state: Mapped[dict[str, Any]] = mapped_column(
        "engineState", JSONB, nullable=False, server_default=text("'{}'")
    )

    __table_args__ = (
        Index("idx_conversation_context_conversation", "conversationId"),
        Index("idx_conversation_context_chatbot", "chatbotId"),
        Index("idx_conversation_context_active", "isActive"),
        Index("idx_conversation_context_conversation_active", "conversationId", "isActive"),
    )


class StatusBacklog(Base):
    """A status webhook whose message id is not stored yet (the sender has not written it back)."""

    __tablename__ = "whatsapp_status_backlog"

    whatsapp_message_id: Mapped[str] = mapped_column("whatsappMessageId", String(255), primary_key=True)
    status: Mapped[MessageStatus] = mapped_column("status", pg_enum(MessageStatus, "message_status"), nullable=False)
    error: Mapped[dict[str, Any] | None] = mapped_column("error", JSONB, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(
        "receivedAt", DateTime(timezone=True), nullable=False, server_default=text("now()")
    )

    __table_args__ = (Index("ix_whatsapp_status_backlog_receivedAt", "receivedAt"),)


class SendWindow(Base):
    """Messages sent per business number per second, shared by all workers (the Cloud API's throughput cap)."""

    __tablename__ = "whatsapp_send_windows"

    phone_number_id: Mapped[str] = mapped_column("phoneNumberId", String(255), primary_key=True)
    second: Mapped[int] = mapped_column("second", BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column("count", Integer, nullable=False, server_default=text("0"))
