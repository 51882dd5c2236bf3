"""The documented partitioning plan works on a populated copy of the schema."""

from __future__ import annotations

import datetime as dt

import psycopg

from whatsapp_builder.db import migrate
from whatsapp_builder.db.partitioning import create_month_partition_sql, partition_messages_sql


def test_messages_can_be_partitioned_by_month_keeping_data_indexes_and_trigger(database_factory) -> None:  # type: ignore[no-untyped-def]
    url = database_factory.create("wab_partition")
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO users ("phoneNumber", name) VALUES ('+15550100', 'a');
            INSERT INTO conversations DEFAULT VALUES;
            INSERT INTO messages ("conversationId", "senderId", content, "timestamp", "whatsappMessageId")
            SELECT (SELECT id FROM conversations), (SELECT id FROM users), jsonb_build_object('body', 'm' || g),
                   '2026-01-01'::timestamptz + g * interval '1 day', 'wamid.' || g
              FROM generate_series(0, 119) g;
            """
        )
        conn.execute(partition_messages_sql(dt.date(2026, 1, 1), dt.date(2026, 3, 1)))
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (120,)
        partitions = {r[0]: r[1] for r in conn.execute(
            "SELECT c.relname, (SELECT count(*) FROM messages m WHERE m.tableoid = c.oid)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass"
        ).fetchall()}
        assert partitions == {"messages_2026_01": 31, "messages_2026_02": 28, "messages_2026_03": 31,
                              "messages_default": 30}
        indexes = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'messages'").fetchall()}
        assert {"idx_messages_conversationId_timestamp", "idx_messages_content_gin", "ix_messages_senderId",
                "uq_messages_whatsappMessageId", "pk_messages"} <= indexes

        # A page of one conversation in one month only reads that month's partition.
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT * FROM messages WHERE \"conversationId\" = (SELECT id FROM conversations)"
            " AND \"timestamp\" >= '2026-02-01' AND \"timestamp\" < '2026-03-01'"
            " ORDER BY \"timestamp\" DESC LIMIT 20").fetchall())
        assert "messages_2026_02" in plan and "messages_2026_01" not in plan

        # New months are added ahead of time; inserts land there and still move lastMessageAt.
        conn.execute(create_month_partition_sql(dt.date(2026, 5, 1)))
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp", "whatsappMessageId")'
            " SELECT (SELECT id FROM conversations), (SELECT id FROM users), '{\"body\": \"may\"}',"
            " '2026-05-02T00:00:00Z', 'wamid.may'")
        assert conn.execute('SELECT "lastMessage" FROM conversations').fetchone() == ("may",)
        # A redelivered inbound message (same id, same timestamp) is still refused.
        redelivery = conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp", "whatsappMessageId")'
            " SELECT (SELECT id FROM conversations), (SELECT id FROM users), '{\"body\": \"may\"}',"
            " '2026-05-02T00:00:00Z', 'wamid.may' ON CONFLICT DO NOTHING RETURNING id").fetchall()
        assert redelivery == []
        # Deleting the conversation still cascades into every partition.
        conn.execute("DELETE FROM conversations")
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)
