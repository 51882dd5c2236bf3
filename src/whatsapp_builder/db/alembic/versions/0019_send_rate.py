"""Extension: a WhatsApp number's own sending limit (`messagesPerSecond`), instead of one for every number.

Meta starts a number at 80 messages a second and raises it, up to 1,000, as its quality and volume grow; a
business whose number is at a higher tier should not be held at the lowest one. Null keeps the server's
default (`WAB_SEND_RATE_PER_SECOND`), which is what every config had before.

Revision ID: 0019_send_rate
Revises: 0018_template_preview
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_send_rate"
down_revision = "0018_template_preview"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("whatsapp_config", sa.Column("messagesPerSecond", sa.Integer(), nullable=True))
    op.create_check_constraint(
        "ck_whatsapp_config_messages_per_second_range", "whatsapp_config", '"messagesPerSecond" BETWEEN 1 AND 10000'
    )


def downgrade() -> None:
    op.drop_constraint("ck_whatsapp_config_messages_per_second_range", "whatsapp_config", type_="check")
    op.drop_column("whatsapp_config", "messagesPerSecond")
