"""Extension: outbound statuses `pending` (in the outbox) and `failed`, with the error WhatsApp gave.

Revision ID: 0004_outbound_delivery_state
Revises: 0003_message_whatsapp_id
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004_outbound_delivery_state"
down_revision = "0003_message_whatsapp_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD VALUE may run inside a transaction (PostgreSQL 12+); the values are only used by later transactions.
    op.execute("ALTER TYPE message_status ADD VALUE IF NOT EXISTS 'pending' BEFORE 'sent'")
    op.execute("ALTER TYPE message_status ADD VALUE IF NOT EXISTS 'failed' AFTER 'read'")
    op.add_column("messages", sa.Column("error", pg.JSONB(), nullable=True))


def downgrade() -> None:
    # PostgreSQL cannot drop enum values: rebuild the type. Pending messages become `sent`, failed ones `sent`
    # with their error dropped, which is the closest the seed's three statuses can say.
    op.drop_column("messages", "error")
    op.execute(
        """
        ALTER TABLE messages ALTER COLUMN status DROP DEFAULT;
        ALTER TYPE message_status RENAME TO message_status_old;
        CREATE TYPE message_status AS ENUM ('sent', 'delivered', 'read');
        ALTER TABLE messages ALTER COLUMN status TYPE message_status USING (
          CASE status::text WHEN 'pending' THEN 'sent' WHEN 'failed' THEN 'sent' ELSE status::text END
        )::message_status;
        ALTER TABLE messages ALTER COLUMN status SET DEFAULT 'sent';
        DROP TYPE message_status_old;
        """
    )
