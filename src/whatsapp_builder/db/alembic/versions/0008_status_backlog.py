"""Extension: status webhooks that arrive before their message's WhatsApp id is stored.

The Cloud API may post `sent`/`delivered` for a message before the sending worker has written the id it got
back. Such statuses wait here and are applied when the id is stored; rows for ids that never turn up are
removed after a day.

Revision ID: 0008_status_backlog
Revises: 0007_message_kinds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0008_status_backlog"
down_revision = "0007_message_kinds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The order statuses may only move in (whatsapp/statuses.py holds the same ranks).
    op.execute(
        """
        CREATE FUNCTION status_rank(status text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
          SELECT CASE status WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                             WHEN 'failed' THEN 3 WHEN 'read' THEN 4 ELSE -1 END
        $$;
        """
    )
    op.create_table(
        "whatsapp_status_backlog",
        sa.Column("whatsappMessageId", sa.String(255), nullable=False),
        sa.Column("status", pg.ENUM(name="message_status", create_type=False), nullable=False),
        sa.Column("error", pg.JSONB(), nullable=True),
        sa.Column("receivedAt", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("whatsappMessageId", name="pk_whatsapp_status_backlog"),
    )
    op.create_index("ix_whatsapp_status_backlog_receivedAt", "whatsapp_status_backlog", ["receivedAt"])


def downgrade() -> None:
    op.drop_table("whatsapp_status_backlog")
    op.execute("DROP FUNCTION status_rank(text)")
