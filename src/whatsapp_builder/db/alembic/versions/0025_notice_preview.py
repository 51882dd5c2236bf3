"""Extension: WhatsApp's notices read in the conversation list as they do in the conversation.

A customer's call, a deleted or edited message and the first opening of the chat are stored as `system`
messages without a `body`, so the list's preview (`lastMessage`) showed `[system]` where the conversation shows
"Called you on WhatsApp". Previews already stored stay as they are; the function keeps its signature, so the
trigger that calls it is untouched.

Revision ID: 0025_notice_preview
Revises: 0024_updated_at_forward
"""

from __future__ import annotations

from alembic import op

revision = "0025_notice_preview"
down_revision = "0024_updated_at_forward"
branch_labels = None
depends_on = None

_FIRST = """
            nullif(content->>'body', ''),
            nullif(content->>'caption', ''),
            nullif(content->>'title', ''),
            nullif(content->>'emoji', ''),
            CASE WHEN msg_type::text IN ('template', 'location') AND nullif(content->>'name', '') IS NOT NULL
                 THEN '[' || msg_type::text || ': ' || (content->>'name') || ']' END,"""

_NOTICES = """
            CASE WHEN msg_type::text = 'system' THEN
              CASE content->>'kind'
                WHEN 'call' THEN 'Called you on WhatsApp'
                WHEN 'revoke' THEN 'Deleted a message'
                WHEN 'request_welcome' THEN 'Opened the chat for the first time'
                WHEN 'edit' THEN 'Edited a message' || coalesce(': ' || coalesce(
                  nullif(content->'message'->'content'->>'body', ''),
                  nullif(content->'message'->'content'->>'caption', '')), '')
              END
            END,"""


def _preview(parts: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION message_preview(msg_type message_type, content jsonb) RETURNS varchar(1000)
        LANGUAGE sql IMMUTABLE AS $$
          SELECT left(coalesce({parts}
            '[' || msg_type::text || ']'
          ), 1000)
        $$;
        """


def upgrade() -> None:
    op.execute(_preview(_FIRST + _NOTICES))


def downgrade() -> None:
    op.execute(_preview(_FIRST))
