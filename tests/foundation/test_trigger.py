"""The trigger keeps conversations.lastMessageAt/lastMessage in step with messages inserted by any means."""

from __future__ import annotations

import psycopg


def _setup(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[str, str]:
    user = conn.execute(
        "INSERT INTO users (\"phoneNumber\", name) VALUES ('+15550001', 'A') RETURNING id"
    ).fetchone()
    conv = conn.execute("INSERT INTO conversations DEFAULT VALUES RETURNING id").fetchone()
    assert user and conv
    return str(conv[0]), str(user[0])


def _last(conn: psycopg.Connection[tuple[object, ...]], conv: str) -> tuple[object, ...]:
    row = conn.execute(
        'SELECT "lastMessage", "lastMessageAt" FROM conversations WHERE id = %s', (conv,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_plain_sql_insert_moves_last_message(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conv, user = _setup(conn)
        assert _last(conn, conv) == (None, None)
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp")'
            " VALUES (%s, %s, '{\"body\": \"hello\"}', '2026-01-01T10:00:00Z')",
            (conv, user),
        )
        message, at = _last(conn, conv)
        assert message == "hello"
        assert str(at).startswith("2026-01-01 10:00:00")


def test_older_message_does_not_replace_newer_and_batches_take_the_latest(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conv, user = _setup(conn)
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", type, content, "timestamp") VALUES'
            " (%s, %s, 'text', '{\"body\": \"second\"}', '2026-01-01T10:00:02Z'),"
            " (%s, %s, 'image', '{\"id\": \"m1\"}', '2026-01-01T10:00:03Z'),"
            " (%s, %s, 'text', '{\"body\": \"first\"}', '2026-01-01T10:00:01Z')",
            (conv, user, conv, user, conv, user),
        )
        assert _last(conn, conv)[0] == "[image]"
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp")'
            " VALUES (%s, %s, '{\"body\": \"late old\"}', '2025-12-31T00:00:00Z')",
            (conv, user),
        )
        assert _last(conn, conv)[0] == "[image]"


def test_long_text_is_cut_to_the_column(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conv, user = _setup(conn)
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp")'
            " VALUES (%s, %s, jsonb_build_object('body', repeat('x', 4096)), now())",
            (conv, user),
        )
        assert len(str(_last(conn, conv)[0])) == 1000


def _updated_at(conn: psycopg.Connection[tuple[object, ...]], conv: str) -> object:
    row = conn.execute('SELECT "updatedAt" FROM conversations WHERE id = %s', (conv,)).fetchone()
    assert row is not None
    return row[0]


def test_a_conversations_updated_at_moves_forward_in_the_order_changes_commit(database_url: str) -> None:
    """A transaction that began before another but commits after it set an older time over the newer one:
    clients keep the copy with the newer updatedAt, so they kept the stale one (realtime audit)."""
    with psycopg.connect(database_url, autocommit=True) as setup:
        conv, _ = _setup(setup)
        with psycopg.connect(database_url) as early, psycopg.connect(database_url, autocommit=True) as late:
            early.execute("SELECT now()")  # its now() is fixed here
            late.execute('UPDATE conversations SET "isHandedOff" = true, "updatedAt" = now() WHERE id = %s', (conv,))
            after_late = _updated_at(setup, conv)
            early.execute('UPDATE conversations SET "lastMessage" = %s, "updatedAt" = now() WHERE id = %s', ("x", conv))
            early.commit()
            after_early = _updated_at(setup, conv)
            assert after_early > after_late  # type: ignore[operator]
