"""Extension: the phone numbers and BSUIDs customers left when they changed number (or BSUID).

WhatsApp tells a business that a customer changed number with a `user_changed_number` notice (or
`user_changed_user_id`), and the customer then takes the new identity. Meta delivers webhooks late and out of
order, so messages from the old identity can still arrive after the notice: a redelivery, or a message written
just before the change. Without a record of what was left, each of these made a new customer (with a
conversation of its own, and the bot greeting a number that is no longer theirs).

Revision ID: 0020_previous_identities
Revises: 0019_send_rate
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020_previous_identities"
down_revision = "0019_send_rate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_previous_identities",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("userId", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("phoneNumber", sa.String(20), nullable=True),
        sa.Column("bsuid", sa.String(160), nullable=True),
        sa.Column("changedAt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("createdAt", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            '"phoneNumber" IS NOT NULL OR bsuid IS NOT NULL', name="ck_user_previous_identities_phone_or_bsuid"
        ),
        sa.ForeignKeyConstraint(
            ["userId"], ["users.id"], name="fk_user_previous_identities_userId_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_user_previous_identities"),
    )
    op.create_index("ix_user_previous_identities_phoneNumber", "user_previous_identities", ["phoneNumber"])
    op.create_index("ix_user_previous_identities_bsuid", "user_previous_identities", ["bsuid"])
    op.create_index("ix_user_previous_identities_userId", "user_previous_identities", ["userId"])


def downgrade() -> None:
    op.drop_table("user_previous_identities")
