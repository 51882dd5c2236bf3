"""Extension: a partial index on customers' unread messages, so the inbox counts them cheaply.

Revision ID: 0012_unread_index
Revises: 0011_sending
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_unread_index"
down_revision = "0011_sending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_unread",
        "messages",
        ["conversationId"],
        postgresql_where=sa.text("direction = 'inbound' AND status <> 'read'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unread", "messages")
