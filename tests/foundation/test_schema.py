"""The migrated schema is the seed's, item by item, plus the documented extensions."""

from __future__ import annotations

import psycopg
import pytest

# (column, data type, character length, nullable, default) for every seed column.
SEED_COLUMNS: dict[str, list[tuple[str, str, int | None, bool, str | None]]] = {
    "users": [
        ("id", "uuid", None, False, "gen_random_uuid()"),
        # The one departure: nullable since 0006 for customers known only by a BSUID (ck_users_phone_or_bsuid).
        ("phoneNumber", "character varying", 20, True, None),
        ("name", "character varying", 100, False, None),
        ("avatar", "character varying", 500, True, None),
        ("createdAt", "timestamp with time zone", None, False, "now()"),
        ("updatedAt", "timestamp with time zone", None, False, "now()"),
    ],
    "chatbots": [
        ("id", "uuid", None, False, "gen_random_uuid()"),
        ("name", "character varying", 255, False, None),
        ("description", "text", None, True, None),
        ("nodes", "jsonb", None, False, "'[]'::jsonb"),
        ("edges", "jsonb", None, False, "'[]'::jsonb"),
        ("isActive", "boolean", None, False, "true"),
        ("status", "USER-DEFINED", None, False, "'active'::chatbot_status"),
        ("metadata", "jsonb", None, True, None),
        ("createdAt", "timestamp with time zone", None, False, "now()"),
        ("updatedAt", "timestamp with time zone", None, False, "now()"),
    ],
    "conversations": [
        ("id", "uuid", None, False, "gen_random_uuid()"),
        ("lastMessage", "character varying", 1000, True, None),
        ("lastMessageAt", "timestamp with time zone", None, True, None),
        ("lastCustomerMessageAt", "timestamp with time zone", None, True, None),
        ("isWindowOpen", "boolean", None, False, "true"),
        ("createdAt", "timestamp with time zone", None, False, "now()"),
        ("updatedAt", "timestamp with time zone", None, False, "now()"),
    ],
    "conversation_participants": [
        ("conversationId", "uuid", None, False, None),
        ("userId", "uuid", None, False, None),
    ],
    "messages": [
        ("id", "uuid", None, False, "gen_random_uuid()"),
        ("conversationId", "uuid", None, False, None),
        ("senderId", "uuid", None, False, None),
        ("type", "USER-DEFINED", None, False, "'text'::message_type"),
        ("content", "jsonb", None, False, None),
        ("status", "USER-DEFINED", None, False, "'sent'::message_status"),
        ("timestamp", "timestamp with time zone", None, False, None),
        ("createdAt", "timestamp with time zone", None, False, "now()"),
        ("updatedAt", "timestamp with time zone", None, False, "now()"),
    ],
    "conversation_contexts": [
        ("id", "uuid", None, False, "gen_random_uuid()"),
        ("conversationId", "uuid", None, False, None),
        ("chatbotId", "uuid", None, False, None),
        ("currentNodeId", "character varying", 255, False, None),
        ("variables", "jsonb", None, False, "'{}'::jsonb"),
        ("nodeHistory", "jsonb", None, False, "'[]'::jsonb"),
        ("isActive", "boolean", None, False, "true"),
        ("createdAt", "timestamp with time zone", None, False, "now()"),
        ("updatedAt", "timestamp with time zone", None, False, "now()"),
    ],
    "whatsapp_config": [
        ("id", "uuid", None, False, "gen_random_uuid()"),
        ("phoneNumberId", "character varying", 255, False, None),
        ("businessAccountId", "character varying", 255, False, None),
        ("accessToken", "text", None, False, None),
        ("webhookVerifyToken", "character varying", 255, False, None),
        ("appSecret", "text", None, True, None),
        ("isActive", "boolean", None, False, "true"),
        ("createdAt", "timestamp with time zone", None, False, "now()"),
        ("updatedAt", "timestamp with time zone", None, False, "now()"),
    ],
}

SEED_ENUM_VALUES = {
    "message_type": {"text", "image", "video", "document", "audio", "sticker", "interactive", "reaction"},
    "message_status": {"sent", "delivered", "read"},
    "chatbot_status": {"active", "archived", "draft"},
}

# Index name -> fragment its definition must contain.
SEED_INDEXES = {
    "idx_conversation_context_conversation": 'ON public.conversation_contexts USING btree ("conversationId")',
    "idx_conversation_context_chatbot": 'ON public.conversation_contexts USING btree ("chatbotId")',
    "idx_conversation_context_active": 'ON public.conversation_contexts USING btree ("isActive")',
    "idx_conversation_context_conversation_active": 'ON public.conversation_contexts USING btree ("conversationId", "isActive")',
    "idx_messages_conversationId_timestamp": 'ON public.messages USING btree ("conversationId", "timestamp" DESC)',
    "idx_chatbots_active_created": 'ON public.chatbots USING btree ("isActive", "createdAt") WHERE ("isActive" = true)',
    "idx_conversations_lastMessageAt_desc": 'ON public.conversations USING btree ("lastMessageAt" DESC NULLS LAST)',
    "idx_chatbots_nodes_gin": "ON public.chatbots USING gin (nodes)",
    "idx_messages_content_gin": "ON public.messages USING gin (content)",
    "uq_whatsapp_config_one_active": 'CREATE UNIQUE INDEX uq_whatsapp_config_one_active ON public.whatsapp_config USING btree ("isActive")'
    ' WHERE ("isActive" = true)',
    "uq_users_phoneNumber": 'CREATE UNIQUE INDEX "uq_users_phoneNumber" ON public.users USING btree ("phoneNumber")',
}

# (table, constraint name or None to match by columns, columns, referenced table, on delete)
SEED_FOREIGN_KEYS = [
    ("conversation_contexts", "fk_conversation_context_conversation", "conversationId", "conversations", "c"),
    ("conversation_contexts", "fk_conversation_context_chatbot", "chatbotId", "chatbots", "c"),
    ("messages", None, "conversationId", "conversations", "c"),
    ("messages", None, "senderId", "users", "a"),
    ("conversation_participants", None, "conversationId", "conversations", "c"),
    ("conversation_participants", None, "userId", "users", "c"),
]


@pytest.fixture
def conn(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.mark.parametrize("table", sorted(SEED_COLUMNS))
def test_seed_columns(conn: psycopg.Connection[tuple[object, ...]], table: str) -> None:
    rows = conn.execute(
        "SELECT column_name, data_type, character_maximum_length, is_nullable = 'YES', column_default"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        (table,),
    ).fetchall()
    actual = {r[0]: tuple(r) for r in rows}
    for expected in SEED_COLUMNS[table]:
        assert actual.get(expected[0]) == expected, f"{table}.{expected[0]}"


def test_seed_enum_types_hold_the_seed_values(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    for name, values in SEED_ENUM_VALUES.items():
        rows = conn.execute(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = %s",
            (name,),
        ).fetchall()
        assert values <= {r[0] for r in rows}, name


def test_seed_indexes(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    rows = dict(
        conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall()
    )
    for name, fragment in SEED_INDEXES.items():
        assert name in rows, f"missing index {name}"
        assert fragment in rows[name], f"{name}: {rows[name]}"


def test_seed_foreign_keys_and_cascades(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    rows = conn.execute(
        """
        SELECT c.conname, cl.relname, a.attname, rt.relname, c.confdeltype
          FROM pg_constraint c
          JOIN pg_class cl ON cl.oid = c.conrelid
          JOIN pg_class rt ON rt.oid = c.confrelid
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f'
        """
    ).fetchall()
    for table, name, column, referenced, on_delete in SEED_FOREIGN_KEYS:
        matches = [r for r in rows if r[1] == table and r[2] == column and r[3] == referenced]
        assert matches, f"missing foreign key {table}.{column} -> {referenced}"
        assert matches[0][4] == on_delete, f"{table}.{column} on delete"
        if name is not None:
            assert matches[0][0] == name


def test_participants_have_a_composite_primary_key(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    row = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'conversation_participants'::regclass AND contype = 'p'"
    ).fetchone()
    assert row is not None and row[0] == 'PRIMARY KEY ("conversationId", "userId")'


def test_only_one_active_whatsapp_config(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    insert = (
        'INSERT INTO whatsapp_config ("phoneNumberId", "businessAccountId", "accessToken", "webhookVerifyToken")'
        " VALUES ('1', '2', 'x', 'v')"
    )
    conn.execute(insert)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert)
    conn.rollback()


def test_every_constraint_has_a_stable_name(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = 'public' AND c.contype IN ('p', 'f', 'u', 'c')"
            " AND conrelid::regclass::text NOT LIKE 'procrastinate%'"
        ).fetchall()
    ]
    assert names
    # PostgreSQL's own generated names end in _pkey/_fkey/_key; ours follow the metadata's convention.
    assert not [n for n in names if n.endswith(("_pkey", "_fkey", "_key")) and n != "alembic_version_pkc"]


def test_a_user_needs_a_phone_number_or_a_bsuid(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO users (name) VALUES ('nobody')")
    conn.rollback()
