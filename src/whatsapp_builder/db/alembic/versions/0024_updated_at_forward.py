"""A conversation's `updatedAt` only moves forward, in the order its changes commit.

Every write sets `"updatedAt" = now()`, the time its transaction began: a transaction that began earlier but
committed later (a webhook and a hand-off at the same moment) set an older time over a newer one. Clients keep
the copy of a conversation with the newer `updatedAt` (docs/realtime.md), so they kept the stale one. The row's
lock orders its updates, and this trigger sees the version committed before it: each change now gets a time
after the one it follows.

Revision ID: 0024_updated_at_forward
Revises: 0023_webhook_refusal
"""

from __future__ import annotations

from alembic import op

revision = "0024_updated_at_forward"
down_revision = "0023_webhook_refusal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION conversations_updated_at_forward() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          -- Equal is left alone: a transaction touching the row twice (its now() does not move).
          IF NEW."updatedAt" < OLD."updatedAt" THEN
            NEW."updatedAt" := OLD."updatedAt" + interval '1 microsecond';
          END IF;
          RETURN NEW;
        END
        $$;

        CREATE TRIGGER trg_conversations_updated_at_forward
          BEFORE UPDATE OF "updatedAt" ON conversations
          FOR EACH ROW EXECUTE FUNCTION conversations_updated_at_forward();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER trg_conversations_updated_at_forward ON conversations;
        DROP FUNCTION conversations_updated_at_forward();
        """
    )
