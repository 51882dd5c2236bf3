"""Extension: a template's preview in the inbox names the template (`[template: order_update]`).

An operator who writes first sends a template; the conversation list showed only `[template]`. A location
shows its name too. `CREATE OR REPLACE` keeps the function's signature, so the trigger that calls it is
untouched; previews already stored stay as they are. (The type is compared as text: on a new database the
enum values 'template' and 'location' are added in the same transaction, where they cannot be used yet.)

Revision ID: 0018_template_preview
Revises: 0017_message_sent_by
"""

from __future__ import annotations

from alembic import op

revision = "0018_template_preview"
down_revision = "0017_message_sent_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION message_preview(msg_type message_type, content jsonb) RETURNS varchar(1000)
        LANGUAGE sql IMMUTABLE AS $$
          SELECT left(coalesce(
            nullif(content->>'body', ''),
            nullif(content->>'caption', ''),
            nullif(content->>'title', ''),
            nullif(content->>'emoji', ''),
            CASE WHEN msg_type::text IN ('template', 'location') AND nullif(content->>'name', '') IS NOT NULL
                 THEN '[' || msg_type::text || ': ' || (content->>'name') || ']' END,
            '[' || msg_type::text || ']'
          ), 1000)
        $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION message_preview(msg_type message_type, content jsonb) RETURNS varchar(1000)
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
