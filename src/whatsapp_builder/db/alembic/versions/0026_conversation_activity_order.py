"""Extension: the inbox's order, newest activity first, on an index of its own.

The conversation list was ordered by `"lastMessageAt" DESC NULLS LAST`: a conversation an operator had just made
(to write first, or between users) has no message yet, so it went to the end of the list, under every
conversation ever had, where the person who made it could not find it. The list is now ordered by
`COALESCE("lastMessageAt", "createdAt") DESC, id DESC`, the time of its last message or, without one, of its
making, with this index behind it so that every page (keyset on that pair) is an index scan, never a sort of the
table. The seed's `idx_conversations_lastMessageAt_desc` stays, as the seed has it.

Revision ID: 0026_conversation_activity_order
Revises: 0025_notice_preview
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_conversation_activity_order"
down_revision = "0025_notice_preview"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_activity",
        "conversations",
        [sa.text('COALESCE("lastMessageAt", "createdAt") DESC'), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_activity", "conversations")
