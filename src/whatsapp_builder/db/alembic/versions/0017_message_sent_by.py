"""Extension: who wrote each message (`sentBy`: customer, bot or operator).

Bot replies and operators' replies both go out from the business's user (`senderId`), so the inbox could not
tell them apart. Rows written before this revision keep NULL: telling them apart afterwards is guesswork.

Revision ID: 0017_message_sent_by
Revises: 0016_published_metadata
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0017_message_sent_by"
down_revision = "0016_published_metadata"
branch_labels = None
depends_on = None

message_author = pg.ENUM("customer", "bot", "operator", name="message_author", create_type=False)


def upgrade() -> None:
    message_author.create(op.get_bind(), checkfirst=False)
    # Nullable without a default: PostgreSQL adds the column without rewriting the table.
    op.add_column("messages", sa.Column("sentBy", message_author, nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "sentBy")
    message_author.drop(op.get_bind(), checkfirst=False)
