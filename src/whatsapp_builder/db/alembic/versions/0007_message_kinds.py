"""Extension: every message kind WhatsApp delivers, and the direction of each message.

The seed's `message_type` lacks kinds the Cloud API sends or we send: location, contacts, button (a template's
quick reply), template, order, system, unsupported. `direction` tells inbound from outbound without joining
participants (NULL for rows written outside the WhatsApp path).

Revision ID: 0007_message_kinds
Revises: 0006_customer_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007_message_kinds"
down_revision = "0006_customer_identity"
branch_labels = None
depends_on = None

NEW_KINDS = ("location", "contacts", "button", "template", "order", "system", "unsupported")
SEED_KINDS = ("text", "image", "video", "document", "audio", "sticker", "interactive", "reaction")
message_direction = pg.ENUM("inbound", "outbound", name="message_direction", create_type=False)


def upgrade() -> None:
    for kind in NEW_KINDS:
        op.execute(f"ALTER TYPE message_type ADD VALUE IF NOT EXISTS '{kind}'")
    message_direction.create(op.get_bind(), checkfirst=False)
    op.add_column("messages", sa.Column("direction", message_direction, nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "direction")
    message_direction.drop(op.get_bind(), checkfirst=False)
    seed = ", ".join(f"'{k}'" for k in SEED_KINDS)
    # Kinds the seed cannot hold are kept as `interactive` (their content is untouched).
    op.execute(
        f"""
        ALTER TABLE messages ALTER COLUMN type DROP DEFAULT;
        DROP FUNCTION message_preview(message_type, jsonb) CASCADE;
        ALTER TYPE message_type RENAME TO message_type_old;
        CREATE TYPE message_type AS ENUM ({seed});
        ALTER TABLE messages ALTER COLUMN type TYPE message_type USING (
          CASE WHEN type::text IN ({seed}) THEN type::text ELSE 'interactive' END
        )::message_type;
        ALTER TABLE messages ALTER COLUMN type SET DEFAULT 'text';
        DROP TYPE message_type_old;
        """
    )
    _recreate_preview()


def _recreate_preview() -> None:
    op.execute(
        """
        CREATE FUNCTION message_preview(msg_type message_type, content jsonb) RETURNS varchar(1000)
        LANGUAGE sql IMMUTABLE AS $$
          SELECT left(coalesce(
            nullif(content->>'body', ''),
            nullif(content->>'caption', ''),
            nullif(content->>'title', ''),
            nullif(content->>'emoji', ''),
            '[' || msg_type::text || ']'
          ), 1000)
        $$;
        """
    )
