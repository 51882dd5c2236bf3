"""Extension: the `played` status (a voice message of ours the customer listened to), after `read`.

Revision ID: 0021_played_status
Revises: 0020_previous_identities
"""

from __future__ import annotations

from alembic import op

revision = "0021_played_status"
down_revision = "0020_previous_identities"
branch_labels = None
depends_on = None

_RANK = """
CREATE OR REPLACE FUNCTION status_rank(status text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE status WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                     WHEN 'failed' THEN 3 WHEN 'read' THEN 4 {played}ELSE -1 END
$$;
"""


def upgrade() -> None:
    # ADD VALUE may run inside a transaction (PostgreSQL 12+); the value is only used by later transactions.
    op.execute("ALTER TYPE message_status ADD VALUE IF NOT EXISTS 'played' AFTER 'read'")
    op.execute(_RANK.format(played="WHEN 'played' THEN 5 "))


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value: played messages become `read` (what they were stored as before), and
    # the value stays, unused (0004's downgrade rebuilds the type without it).
    op.execute("UPDATE messages SET status = 'read' WHERE status::text = 'played'")
    op.execute("UPDATE whatsapp_status_backlog SET status = 'read' WHERE status::text = 'played'")
    op.execute(_RANK.format(played=""))
