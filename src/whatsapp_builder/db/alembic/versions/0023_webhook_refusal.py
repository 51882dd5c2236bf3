"""Extension: the last webhook delivery refused because its signature did not match the app secret.

A wrong app secret is the likeliest setup mistake, and the secret is never shown again once saved: without this,
every delivery from Meta was refused (and retried for days) while the inbox stayed empty and nothing said why.
The Settings page shows it; the next delivery that verifies clears it.

Revision ID: 0023_webhook_refusal
Revises: 0022_user_profile_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0023_webhook_refusal"
down_revision = "0022_user_profile_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("whatsapp_config", sa.Column("lastWebhookRefusal", pg.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("whatsapp_config", "lastWebhookRefusal")
