"""The seed's query patterns use their indexes (EXPLAIN on a data set large enough for the planner to care)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.dialects import postgresql

from whatsapp_builder.conversations import service
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.db import migrate
from whatsapp_builder.settings import Settings

from ..conftest import DatabaseFactory

CONVERSATIONS = 4000
MESSAGES_PER_CONVERSATION = 15


@pytest.fixture(scope="module")
def plan_database(database_factory: DatabaseFactory) -> str:
    url = database_factory.create("wab_plans")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="module")
async def plan_context(settings: Settings, plan_database: str) -> AsyncIterator[AppContext]:
    context = AppContext.create(settings, plan_database)
    yield context
    await context.close()


@pytest.fixture(scope="module")
def dataset(plan_database: str) -> Iterator[dict[str, str]]:
    with psycopg.connect(plan_database, autocommit=True) as conn:
        conn.execute(
            f"""
            INSERT INTO users (id, "phoneNumber", name)
            SELECT gen_random_uuid(), '+1555' || lpad(g::text, 7, '0'), 'user ' || g FROM generate_series(1, {CONVERSATIONS}) g;
            INSERT INTO conversations (id) SELECT gen_random_uuid() FROM generate_series(1, {CONVERSATIONS});
            INSERT INTO conversation_participants ("conversationId", "userId")
              SELECT c.id, u.id FROM (SELECT id, row_number() OVER () rn FROM conversations) c
              JOIN (SELECT id, row_number() OVER () rn FROM users) u USING (rn);
            INSERT INTO messages ("conversationId", "senderId", content, "timestamp")
              SELECT cp."conversationId", cp."userId", jsonb_build_object('body', 'm' || g),
                     now() - (g || ' minutes')::interval - random() * interval '30 days'
                FROM conversation_participants cp, generate_series(1, {MESSAGES_PER_CONVERSATION}) g;
            INSERT INTO chatbots (name, "isActive") SELECT 'bot ' || g, g % 5 = 0 FROM generate_series(1, 500) g;
            INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId", "isActive")
              SELECT c.id, (SELECT id FROM chatbots LIMIT 1), 'n1', g = 1
                FROM conversations c, generate_series(1, 5) g;
            ANALYZE;
            """
        )
        conv = conn.execute("SELECT id FROM conversations LIMIT 1").fetchone()
        assert conv is not None
        yield {"conversation": str(conv[0])}


def _plan(database_url: str, sql: str, params: dict[str, object]) -> str:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("EXPLAIN " + sql, params).fetchall()
    return "\n".join(str(r[0]) for r in rows)


def _compile(statement: object) -> str:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def _captured_statements(context: AppContext) -> tuple[list[str], object]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(context.engine.sync_engine, "before_cursor_execute", record)
    return statements, record


async def test_active_context_uses_the_composite_index(
    plan_context: AppContext, plan_database: str, dataset: dict[str, str]
) -> None:
    statements, hook = _captured_statements(plan_context)
    try:
        async with plan_context.sessions() as session:
            context = await service.active_context(session, uuid.UUID(dataset["conversation"]))
    finally:
        event.remove(plan_context.engine.sync_engine, "before_cursor_execute", hook)
    assert context is not None and context.is_active
    sql = re.sub(r"%\(param_\d+\)s", "1", re.sub(r"%\(conversationId_\d+\)s", "%(c)s", statements[-1]))
    plan = _plan(plan_database, sql, {"c": dataset["conversation"]})
    assert "idx_conversation_context_conversation_active" in plan, plan


async def test_conversation_with_participants_takes_a_fixed_number_of_queries(
    plan_context: AppContext, dataset: dict[str, str]
) -> None:
    statements, hook = _captured_statements(plan_context)
    try:
        async with plan_context.sessions() as session:
            conversation = await service.get_conversation(session, uuid.UUID(dataset["conversation"]))
    finally:
        event.remove(plan_context.engine.sync_engine, "before_cursor_execute", hook)
    assert len(conversation.participants) == 1
    # The conversation, all its participants in one IN query, and the inbox extras: never one per participant.
    assert len(statements) == 3


def test_message_pages_use_keyset_on_the_timestamp_index(plan_database: str, dataset: dict[str, str]) -> None:
    sql = (
        'SELECT * FROM messages WHERE "conversationId" = %(c)s AND "timestamp" <= %(t)s'
        ' AND ("timestamp" < %(t)s OR id < %(i)s) ORDER BY "timestamp" DESC, id DESC LIMIT 51'
    )
    plan = _plan(
        plan_database,
        sql,
        {"c": dataset["conversation"], "t": dt.datetime.now(dt.UTC), "i": str(uuid.uuid4())},
    )
    assert "idx_messages_conversationId_timestamp" in plan, plan
    assert "Seq Scan" not in plan


async def test_inbox_pages_are_scans_of_the_activity_index(
    plan_context: AppContext, plan_database: str, dataset: dict[str, str]
) -> None:
    """The first page and a later one, as the service asks for them: read in order off ix_conversations_activity
    (the keyset an index condition), never a sort of the table."""
    recorded: list[tuple[str, dict[str, object]]] = []

    def record(conn: object, cursor: object, statement: str, parameters: dict[str, object], *args: object) -> None:
        recorded.append((statement, parameters))

    event.listen(plan_context.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with plan_context.sessions() as session:
            first = await service.list_conversations(session, limit=51, after=None)
            last = first[-1]
            await service.list_conversations(session, limit=51, after=(service.activity_time(last), last.id))
    finally:
        event.remove(plan_context.engine.sync_engine, "before_cursor_execute", record)
    pages = [(sql, params) for sql, params in recorded if "ORDER BY coalesce(" in sql]
    assert len(pages) == 2, recorded
    for sql, params in pages:
        plan = _plan(plan_database, sql, params)
        assert "Index Scan using ix_conversations_activity" in plan and "Sort" not in plan, plan
    assert "Index Cond: (ROW(COALESCE" in _plan(plan_database, *pages[1]), pages[1]


def test_default_chatbot_uses_the_partial_index(plan_database: str, dataset: dict[str, str]) -> None:
    sql = 'SELECT * FROM chatbots WHERE "isActive" = true ORDER BY "createdAt" ASC LIMIT 1'
    plan = _plan(plan_database, sql, {})
    assert "idx_chatbots_active_created" in plan, plan


async def test_service_queries_match_the_explained_ones(
    plan_context: AppContext, dataset: dict[str, str]
) -> None:
    statements, hook = _captured_statements(plan_context)
    try:
        async with plan_context.sessions() as session:
            page = await service.list_messages(
                session, uuid.UUID(dataset["conversation"]), limit=7, before=None
            )
            older = await service.list_messages(
                session, uuid.UUID(dataset["conversation"]), limit=7, before=(page[-1].timestamp, page[-1].id)
            )
            await service.list_conversations(session, limit=10, after=None)
    finally:
        event.remove(plan_context.engine.sync_engine, "before_cursor_execute", hook)
    assert [m.timestamp for m in page + older] == sorted((m.timestamp for m in page + older), reverse=True)
    assert len({m.id for m in page + older}) == 14
    joined = "\n".join(statements)
    assert "OFFSET" not in joined.upper()
    assert 'ORDER BY coalesce(conversations."lastMessageAt", conversations."createdAt") DESC, conversations.id DESC' in joined


async def test_the_hot_paths_never_compile_a_statement(plan_context: AppContext, dataset: dict[str, str]) -> None:
    """The hot paths' connections turn sequential scans "off", which prices a statement that has to scan (the
    minute's window closing: no index on lastCustomerMessageAt) far above jit_above_cost: PostgreSQL compiled it
    with LLVM every time, 113 ms in the bench for a scan of half a millisecond."""
    from whatsapp_builder.conversations.window_closing import _CLOSED

    now = dt.datetime.now(dt.UTC)
    async with plan_context.transaction() as conn:
        rows = await (await conn.execute("EXPLAIN (ANALYZE) " + _CLOSED, (now, now))).fetchall()
    plan = "\n".join(row[0] for row in rows)
    assert "Seq Scan on conversations" in plan, plan  # the case: this statement does scan
    assert "JIT" not in plan, plan
