"""Extension: sending limits and per-config Graph API address.

- whatsapp_send_windows: a per-number, per-second counter shared by every worker (the Cloud API's throughput
  limit, 80 messages/s by default).
- whatsapp_config."graphApiUrl": where this config's Graph API calls go (NULL: GRAPH_API_URL). The demo config
  points at the local simulator, so a real number and the demo never share a setting.
- whatsapp_config."lastError": set when WhatsApp rejects the credentials (expired token, locked account).

Revision ID: 0011_sending
Revises: 0010_flow_runtime
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0011_sending"
down_revision = "0010_flow_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_send_windows",
        sa.Column("phoneNumberId", sa.String(255), nullable=False),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("phoneNumberId", "second", name="pk_whatsapp_send_windows"),
    )
    op.add_column("whatsapp_config", sa.Column("graphApiUrl", sa.String(500), nullable=True))
    op.add_column("whatsapp_config", sa.Column("lastError", pg.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("whatsapp_config", "lastError")
    op.drop_column("whatsapp_config", "graphApiUrl")
    op.drop_table("whatsapp_send_windows")
