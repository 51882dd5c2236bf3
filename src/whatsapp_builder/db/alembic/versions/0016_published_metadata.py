"""Extension: the published copy of a chatbot's run-time settings (`publishedMetadata`).

`metadata` holds `sessionTimeoutMinutes` and `restartKeywords` (docs/flows.md). Like `nodes` and `edges` it is
the draft being edited; conversations run on the copy taken when the chatbot was published, so saving a draft
never changes how live conversations behave. Chatbots already published get their current settings.

Revision ID: 0016_published_metadata
Revises: 0015_lean_job_triggers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0016_published_metadata"
down_revision = "0015_lean_job_triggers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chatbots", sa.Column("publishedMetadata", pg.JSONB(), nullable=True))
    op.execute('UPDATE chatbots SET "publishedMetadata" = metadata WHERE "publishedNodes" IS NOT NULL')


def downgrade() -> None:
    op.drop_column("chatbots", "publishedMetadata")
