"""Extension: WhatsApp's message id on messages, unique, for idempotent webhooks and status updates.

Revision ID: 0003_message_whatsapp_id
Revises: 0002_last_message_trigger
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_message_whatsapp_id"
down_revision = "0002_last_message_trigger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("whatsappMessageId", sa.String(255), nullable=True))
    op.create_unique_constraint("uq_messages_whatsappMessageId", "messages", ["whatsappMessageId"])


def downgrade() -> None:
    op.drop_constraint("uq_messages_whatsappMessageId", "messages", type_="unique")
    op.drop_column("messages", "whatsappMessageId")
