"""The seed's schema: seven tables, three enum types, foreign keys with cascades, and the seed's indexes.

Revision ID: 0001_seed_schema
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001_seed_schema"
down_revision = None
branch_labels = None
depends_on = None

message_type = pg.ENUM(
    "text",
    "image",
    "video",
    "document",
    "audio",
    "sticker",
    "interactive",
    "reaction",
    name="message_type",
    create_type=False,
)
message_status = pg.ENUM("sent", "delivered", "read", name="message_status", create_type=False)
chatbot_status = pg.ENUM("active", "archived", "draft", name="chatbot_status", create_type=False)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("createdAt", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("updatedAt", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    ]


def _id() -> sa.Column[Any]:
    return sa.Column("id", pg.UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()"))


def upgrade() -> None:
    bind = op.get_bind()
    for enum_type in (message_type, message_status, chatbot_status):
        enum_type.create(bind, checkfirst=False)

    op.create_table(
        "users",
        _id(),
        sa.Column("phoneNumber", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("avatar", sa.String(500), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("phoneNumber", name="uq_users_phoneNumber"),
    )

    op.create_table(
        "chatbots",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("nodes", pg.JSONB(), nullable=False, server_default=sa.text("'[]'")),
        sa.Column("edges", pg.JSONB(), nullable=False, server_default=sa.text("'[]'")),
        sa.Column("isActive", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("status", chatbot_status, nullable=False, server_default=sa.text("'active'")),
        sa.Column("metadata", pg.JSONB(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_chatbots"),
    )
    op.create_index(
        "idx_chatbots_active_created",
        "chatbots",
        ["isActive", "createdAt"],
        postgresql_where=sa.text('"isActive" = true'),
    )
    op.create_index("idx_chatbots_nodes_gin", "chatbots", ["nodes"], postgresql_using="gin")

    op.create_table(
        "conversations",
        _id(),
        sa.Column("lastMessage", sa.String(1000), nullable=True),
        sa.Column("lastMessageAt", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lastCustomerMessageAt", sa.DateTime(timezone=True), nullable=True),
        sa.Column("isWindowOpen", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index(
        "idx_conversations_lastMessageAt_desc", "conversations", [sa.text('"lastMessageAt" DESC NULLS LAST')]
    )

    op.create_table(
        "conversation_participants",
        sa.Column("conversationId", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("userId", pg.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("conversationId", "userId", name="pk_conversation_participants"),
        sa.ForeignKeyConstraint(
            ["conversationId"],
            ["conversations.id"],
            ondelete="CASCADE",
            name="fk_conversation_participants_conversationId_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["userId"], ["users.id"], ondelete="CASCADE", name="fk_conversation_participants_userId_users"
        ),
    )
    op.create_index("ix_conversation_participants_userId", "conversation_participants", ["userId"])

    op.create_table(
        "messages",
        _id(),
        sa.Column("conversationId", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("senderId", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("type", message_type, nullable=False, server_default=sa.text("'text'")),
        sa.Column("content", pg.JSONB(), nullable=False),
        sa.Column("status", message_status, nullable=False, server_default=sa.text("'sent'")),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["conversationId"],
            ["conversations.id"],
            ondelete="CASCADE",
            name="fk_messages_conversationId_conversations",
        ),
        sa.ForeignKeyConstraint(["senderId"], ["users.id"], name="fk_messages_senderId_users"),
    )
    op.create_index(
        "idx_messages_conversationId_timestamp", "messages", ["conversationId", sa.text('"timestamp" DESC')]
    )
    op.create_index("idx_messages_content_gin", "messages", ["content"], postgresql_using="gin")
    op.create_index("ix_messages_senderId", "messages", ["senderId"])

    op.create_table(
        "conversation_contexts",
        _id(),
        sa.Column("conversationId", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("chatbotId", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("currentNodeId", sa.String(255), nullable=False),
        sa.Column("variables", pg.JSONB(), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("nodeHistory", pg.JSONB(), nullable=False, server_default=sa.text("'[]'")),
        sa.Column("isActive", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_contexts"),
        sa.ForeignKeyConstraint(
            ["conversationId"],
            ["conversations.id"],
            ondelete="CASCADE",
            name="fk_conversation_context_conversation",
        ),
        sa.ForeignKeyConstraint(
            ["chatbotId"], ["chatbots.id"], ondelete="CASCADE", name="fk_conversation_context_chatbot"
        ),
    )
    op.create_index("idx_conversation_context_conversation", "conversation_contexts", ["conversationId"])
    op.create_index("idx_conversation_context_chatbot", "conversation_contexts", ["chatbotId"])
    op.create_index("idx_conversation_context_active", "conversation_contexts", ["isActive"])
    op.create_index(
        "idx_conversation_context_conversation_active",
        "conversation_contexts",
        ["conversationId", "isActive"],
    )

    op.create_table(
        "whatsapp_config",
        _id(),
        sa.Column("phoneNumberId", sa.String(255), nullable=False),
        sa.Column("businessAccountId", sa.String(255), nullable=False),
        sa.Column("accessToken", sa.Text(), nullable=False),
        sa.Column("webhookVerifyToken", sa.String(255), nullable=False),
        sa.Column("appSecret", sa.Text(), nullable=True),
        sa.Column("isActive", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_config"),
    )
    # Only one active config: a partial unique index over the constant `true`.
    op.create_index(
        "uq_whatsapp_config_one_active",
        "whatsapp_config",
        ["isActive"],
        unique=True,
        postgresql_where=sa.text('"isActive" = true'),
    )


def downgrade() -> None:
    for table in (
        "whatsapp_config",
        "conversation_contexts",
        "messages",
        "conversation_participants",
        "conversations",
        "chatbots",
        "users",
    ):
        op.drop_table(table)
    bind = op.get_bind()
    for enum_type in (chatbot_status, message_status, message_type):
        enum_type.drop(bind, checkfirst=False)
