"""Extension: when a customer's stored profile (name, username, phone number) was last set, by WhatsApp's time.

Meta delivers webhooks late and out of order. Without this, the profile in a late message replaced a newer one
(an old name came back), and a late message from a recycled number's previous owner took the number back from
its new owner, whose replies then went to the previous owner's conversation.

Revision ID: 0022_user_profile_at
Revises: 0021_played_status
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_user_profile_at"
down_revision = "0021_played_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("profileAt", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "profileAt")
