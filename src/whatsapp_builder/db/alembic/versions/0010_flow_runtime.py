"""Extension: what running flows need.

- chatbots: the published graph (`publishedNodes`, `publishedEdges`, `publishedAt`). `nodes`/`edges` are the
  draft being edited; conversations run on the published copy, so editing never disturbs them.
- conversations: `isHandedOff` (a human has taken over: the bot stays silent).
- conversation_contexts: `engineState`, the engine's bookkeeping (retries, waiting kind, end reason, activity).

Revision ID: 0010_flow_runtime
Revises: 0009_job_queue
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0010_flow_runtime"
down_revision = "0009_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chatbots", sa.Column("publishedNodes", pg.JSONB(), nullable=True))
    op.add_column("chatbots", sa.Column("publishedEdges", pg.JSONB(), nullable=True))
    op.add_column("chatbots", sa.Column("publishedAt", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "conversations", sa.Column("isHandedOff", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.add_column(
        "conversation_contexts",
        sa.Column("engineState", pg.JSONB(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    op.drop_column("conversation_contexts", "engineState")
    op.drop_column("conversations", "isHandedOff")
    op.drop_column("chatbots", "publishedAt")
    op.drop_column("chatbots", "publishedEdges")
    op.drop_column("chatbots", "publishedNodes")
