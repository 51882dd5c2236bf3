"""Extension: customers known by a business-scoped user id (BSUID), and 1:1 WhatsApp conversations.

Since 2026 a WhatsApp user may reach a business with no phone number in the webhook, only a BSUID. The seed's
`users."phoneNumber"` is NOT NULL; it becomes nullable, with a unique `bsuid` column and a check that one of
the two is set. A conversation records its customer and the business phone number id, unique together, so the
webhook finds or creates it in one statement.

Revision ID: 0006_customer_identity
Revises: 0005_api_tokens
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0006_customer_identity"
down_revision = "0005_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("users", "phoneNumber", existing_type=sa.String(20), nullable=True)
    op.add_column("users", sa.Column("bsuid", sa.String(160), nullable=True))
    op.add_column("users", sa.Column("username", sa.String(100), nullable=True))
    op.create_unique_constraint("uq_users_bsuid", "users", ["bsuid"])
    op.create_check_constraint("ck_users_phone_or_bsuid", "users", '"phoneNumber" IS NOT NULL OR bsuid IS NOT NULL')

    op.add_column("conversations", sa.Column("customerId", pg.UUID(as_uuid=True), nullable=True))
    op.add_column("conversations", sa.Column("whatsappPhoneNumberId", sa.String(255), nullable=True))
    op.create_foreign_key(
        "fk_conversations_customerId_users", "conversations", "users", ["customerId"], ["id"], ondelete="CASCADE"
    )
    op.create_unique_constraint(
        "uq_conversations_whatsappPhoneNumberId_customerId", "conversations", ["whatsappPhoneNumberId", "customerId"]
    )
    op.create_index("ix_conversations_customerId", "conversations", ["customerId"])


def downgrade() -> None:
    op.drop_index("ix_conversations_customerId", "conversations")
    op.drop_constraint("uq_conversations_whatsappPhoneNumberId_customerId", "conversations", type_="unique")
    op.drop_constraint("fk_conversations_customerId_users", "conversations", type_="foreignkey")
    op.drop_column("conversations", "whatsappPhoneNumberId")
    op.drop_column("conversations", "customerId")
    op.drop_constraint("ck_users_phone_or_bsuid", "users", type_="check")
    op.drop_constraint("uq_users_bsuid", "users", type_="unique")
    op.drop_column("users", "username")
    op.drop_column("users", "bsuid")
    # Users known only by a BSUID cannot exist in the seed's schema.
    op.execute('DELETE FROM users WHERE "phoneNumber" IS NULL')
    op.alter_column("users", "phoneNumber", existing_type=sa.String(20), nullable=False)
