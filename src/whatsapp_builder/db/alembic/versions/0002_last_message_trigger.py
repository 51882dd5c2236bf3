"""Keep conversations.lastMessageAt/lastMessage in step with inserted messages (the seed's future improvement).

A statement-level trigger with a transition table: one UPDATE per INSERT statement however many rows it holds,
so batched webhook inserts stay cheap. It also fires for rows inserted by plain SQL.

Revision ID: 0002_last_message_trigger
Revises: 0001_seed_schema
"""

from __future__ import annotations

from alembic import op

revision = "0002_last_message_trigger"
down_revision = "0001_seed_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
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

        CREATE FUNCTION messages_touch_conversation() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE conversations AS c
             SET "lastMessageAt" = latest."timestamp",
                 "lastMessage" = message_preview(latest."type", latest."content"),
                 "updatedAt" = now()
            FROM (
              SELECT DISTINCT ON (n."conversationId") n."conversationId", n."timestamp", n."type", n."content"
                FROM new_messages AS n
               ORDER BY n."conversationId", n."timestamp" DESC
            ) AS latest
           WHERE c.id = latest."conversationId"
             AND (c."lastMessageAt" IS NULL OR c."lastMessageAt" <= latest."timestamp");
          RETURN NULL;
        END
        $$;

        CREATE TRIGGER trg_messages_touch_conversation
          AFTER INSERT ON messages
          REFERENCING NEW TABLE AS new_messages
          FOR EACH STATEMENT EXECUTE FUNCTION messages_touch_conversation();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER trg_messages_touch_conversation ON messages;
        DROP FUNCTION messages_touch_conversation();
        DROP FUNCTION message_preview(message_type, jsonb);
        """
    )
