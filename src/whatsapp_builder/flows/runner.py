"""Runs published chatbots against stored inbound messages: the glue between the pure engine and the database.

Each job holds the conversation's row lock (SELECT … FOR UPDATE) for its whole transaction, so two messages of
one customer are processed one after the other on any number of workers and hosts, never interleaved. State,
replies (as pending outbound messages with their delivery jobs) and timers are written in that one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows.engine import is_expired, run_turn
from whatsapp_builder.flows.graph import FlowGraph, start_matches
from whatsapp_builder.flows.http import SafeHttpPerformer
from whatsapp_builder.flows.types import ContactInfo, ContextState, EngineSettings, FlowInput, TurnResult
from whatsapp_builder.jobs.queue import TIMERS_QUEUE, JobSpec, raw_connection
from whatsapp_builder.logging import get_logger
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.inbound_service import PROCESS_INBOUND, flow_lock
from whatsapp_builder.whatsapp.outbox import Recipient, load_recipient, queue_mark_read, queue_outbound

log = get_logger(__name__)

RESUME_DELAY = "resume_delay"


@dataclass(frozen=True)
class PublishedBot:
    id: uuid.UUID
    graph: FlowGraph
    settings: EngineSettings


@dataclass
class ActiveContext:
    id: uuid.UUID
    chatbot_id: uuid.UUID
    state: ContextState


@dataclass
class TurnOutcome:
    replies: list[tuple[str, dict[str, Any]]]
    context_event: dict[str, Any] | None
    handoff: bool


def engine_settings(context: AppContext, metadata: object) -> EngineSettings:
    meta: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
    timeout = meta.get("sessionTimeoutMinutes")
    keywords = meta.get("restartKeywords")
    return EngineSettings(
        session_timeout=dt.timedelta(minutes=float(timeout))
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
        else None,
        restart_keywords=tuple(k for k in keywords if isinstance(k, str) and k.strip())
        if isinstance(keywords, list)
        else ("restart", "start over"),
        max_steps=context.settings.flow_max_steps,
    )


_SELECT_BOTS = (
    'SELECT id, "publishedNodes", "publishedEdges", metadata, "publishedAt" FROM chatbots'
    ' WHERE "isActive" = true AND status = \'active\' AND "publishedNodes" IS NOT NULL'
)


async def _bot(context: AppContext, conn: AsyncConnection[Any], chatbot_id: uuid.UUID) -> PublishedBot | None:
    row = await (await conn.execute(_SELECT_BOTS + " AND id = %s", (chatbot_id,))).fetchone()
    if row is None:
        return None
    graph = context.bots.compiled(row[0], row[4], row[1], row[2])
    return None if graph is None else PublishedBot(row[0], graph, engine_settings(context, row[3]))


async def select_bot(context: AppContext, conn: AsyncConnection[Any], text: str | None) -> PublishedBot | None:
    """A bot whose start trigger matches the message, else the default: the oldest active one."""
    rows = await (await conn.execute(_SELECT_BOTS + ' ORDER BY "createdAt" ASC, id ASC')).fetchall()
    bots = []
    for row in rows:
        graph = context.bots.compiled(row[0], row[4], row[1], row[2])
        if graph is not None:
            bots.append(PublishedBot(row[0], graph, engine_settings(context, row[3])))
    for bot in bots:
        if start_matches(bot.graph, text):
            return bot
    return bots[0] if bots else None


async def _active_context(conn: AsyncConnection[Any], conversation_id: uuid.UUID) -> ActiveContext | None:
    row = await (
        await conn.execute(
            'SELECT id, "chatbotId", "currentNodeId", variables, "nodeHistory", "engineState"'
            ' FROM conversation_contexts WHERE "conversationId" = %s AND "isActive" = true'
            ' ORDER BY "createdAt" DESC LIMIT 1',
            (conversation_id,),
        )
    ).fetchone()
    if row is None:
        return None
    state = ContextState.from_dict(
        {"currentNodeId": row[2], "variables": row[3], "nodeHistory": row[4], "isActive": True, "engine": row[5]}
    )
    return ActiveContext(row[0], row[1], state)


def _node_column(state: ContextState) -> str:
    return (state.current_node_id or (state.node_history[-1] if state.node_history else "") or "-")[:255]


async def _end_context(conn: AsyncConnection[Any], context_id: uuid.UUID, reason: str) -> None:
    await conn.execute(
        'UPDATE conversation_contexts SET "isActive" = false,'
        ' "engineState" = "engineState" || jsonb_build_object(\'endedReason\', %s::text), "updatedAt" = now()'
        " WHERE id = %s",
        (reason, context_id),
    )


async def _save(
    conn: AsyncConnection[Any],
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    context_id: uuid.UUID | None,
    state: ContextState,
) -> uuid.UUID:
    values = (
        _node_column(state),
        Jsonb(state.variables),
        Jsonb(state.node_history),
        state.is_active,
        Jsonb(state.engine),
    )
    if context_id is not None:
        await conn.execute(
            'UPDATE conversation_contexts SET "currentNodeId" = %s, variables = %s, "nodeHistory" = %s,'
            ' "isActive" = %s, "engineState" = %s, "updatedAt" = now() WHERE id = %s',
            (*values, context_id),
        )
        return context_id
    row = await (
        await conn.execute(
            'INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId", variables,'
            ' "nodeHistory", "isActive", "engineState") VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id',
            (conversation_id, bot_id, *values),
        )
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


async def _apply(
    context: AppContext,
    session: Any,
    conn: AsyncConnection[Any],
    recipient: Recipient,
    bot: PublishedBot,
    active: ActiveContext | None,
    result: TurnResult,
) -> tuple[ActiveContext | None, TurnOutcome]:
    if active is not None and result.restarted:
        await _end_context(conn, active.id, "restart")
        active = None
    context_id = await _save(conn, recipient.conversation_id, bot.id, active.id if active else None, result.state)
    if result.wake_at is not None and result.state.is_active:
        await context.jobs.defer(
            session,
            [
                JobSpec(
                    RESUME_DELAY,
                    TIMERS_QUEUE,
                    {"conversation_id": str(recipient.conversation_id), "context_id": str(context_id)},
                    schedule_at=result.wake_at,
                )
            ],
        )
    if result.ended_reason not in (None, "completed", "handoff"):
        log.info(
            "context ended",
            conversation_id=str(recipient.conversation_id),
            reason=result.ended_reason,
            trace=result.log[-3:],
        )
    event = {
        "conversationId": str(recipient.conversation_id),
        "chatbotId": str(bot.id),
        "contextId": str(context_id),
        "currentNodeId": result.state.current_node_id,
        "variables": result.state.variables,
        "isActive": result.state.is_active,
        "endedReason": result.ended_reason,
    }
    replies = [(m.type, m.content) for m in result.outgoing]
    next_active = ActiveContext(context_id, bot.id, result.state) if result.state.is_active else None
    return next_active, TurnOutcome(replies, event, result.handoff)


async def _turn(
    context: AppContext,
    session: Any,
    conn: AsyncConnection[Any],
    recipient: Recipient,
    active: ActiveContext | None,
    flow_input: FlowInput,
    contact: ContactInfo,
    now: dt.datetime,
) -> tuple[ActiveContext | None, TurnOutcome | None]:
    bot: PublishedBot | None = None
    if active is not None:
        bot = await _bot(context, conn, active.chatbot_id)
        if bot is None:
            await _end_context(conn, active.id, "chatbot_unavailable")
            active = None
        elif is_expired(active.state, now, bot.settings):
            await _end_context(conn, active.id, "timeout")
            active, bot = None, None
    if bot is None:
        if flow_input.kind == "timer":
            return active, None
        bot = await select_bot(context, conn, flow_input.text)
        if bot is None:
            return None, None
    result = await run_turn(
        bot.graph,
        active.state if active else None,
        flow_input,
        contact=contact,
        now=now,
        settings=bot.settings,
        http=SafeHttpPerformer(context.http, allow_private=context.settings.flow_http_allow_private),
    )
    return await _apply(context, session, conn, recipient, bot, active, result)


async def _finish(
    context: AppContext,
    session: Any,
    recipient: Recipient,
    outcomes: list[TurnOutcome],
    answered_message_id: uuid.UUID | None,
) -> None:
    conn = await raw_connection(session)
    replies = [reply for outcome in outcomes for reply in outcome.replies]
    queued = await queue_outbound(context, session, recipient, replies)
    handoff = any(o.handoff for o in outcomes)
    if handoff:
        await conn.execute(
            'UPDATE conversations SET "isHandedOff" = true, "updatedAt" = now() WHERE id = %s',
            (recipient.conversation_id,),
        )
    if queued and answered_message_id is not None:
        await queue_mark_read(context, session, recipient.conversation_id, answered_message_id)
    changed = handoff or bool(queued)
    snapshots = await conversation_snapshots(session, [recipient.conversation_id]) if changed else []
    await session.commit()
    published: list[Any] = [events.message_created(m) for m in queued]
    published += [
        events.context_updated(o.context_event["conversationId"], o.context_event) for o in outcomes if o.context_event
    ]
    published += [events.conversation_updated(s) for s in snapshots]
    if published:
        await context.publisher.publish(published)


async def _contact(conn: AsyncConnection[Any], customer_id: uuid.UUID) -> ContactInfo:
    row = await (await conn.execute('SELECT name, "phoneNumber" FROM users WHERE id = %s', (customer_id,))).fetchone()
    return ContactInfo(name=row[0], phone=row[1]) if row else ContactInfo()


async def process_inbound(
    context: AppContext, conversation_id: uuid.UUID, message_ids: list[uuid.UUID], *, claim: bool = False
) -> bool:
    """Run the conversation's bot on newly stored customer messages, in the order they arrived.

    A worker passes the messages of its job. The in-process fast path passes `claim=True` instead: it takes
    every flow job of the conversation still waiting in the queue (deleting them in this same transaction, so
    they are done exactly once, and left to the workers if this fails) and handles their messages.
    Returns whether there was anything to do.
    """
    async with context.sessions() as session:
        conn = await raw_connection(session)
        try:
            recipient = await load_recipient(session, conversation_id, lock=True)
        except Exception:
            log.info(
                "flow job skipped: conversation gone or not a WhatsApp conversation",
                conversation_id=str(conversation_id),
            )
            return False
        if claim:
            claimed = await (
                await conn.execute(
                    "DELETE FROM procrastinate_jobs WHERE lock = %s AND status = 'todo' AND task_name = %s"
                    " RETURNING id, args",
                    (flow_lock(conversation_id), PROCESS_INBOUND),
                )
            ).fetchall()
            if not claimed:
                return False
            message_ids = [uuid.UUID(m) for _, args in sorted(claimed) for m in args.get("message_ids", [])]
        if recipient.is_handed_off:
            await session.commit()
            return True
        rows = await (
            await conn.execute(
                'SELECT id, type::text, content FROM messages WHERE id = ANY(%s) ORDER BY "timestamp", id',
                (message_ids,),
            )
        ).fetchall()
        contact = await _contact(conn, recipient.customer_id)
        active = await _active_context(conn, conversation_id)
        outcomes: list[TurnOutcome] = []
        now = dt.datetime.now(dt.UTC)
        last_id: uuid.UUID | None = None
        for message_id, message_type, content in rows:
            active, outcome = await _turn(
                context, session, conn, recipient, active, FlowInput.from_message(message_type, content), contact, now
            )
            last_id = message_id
            if outcome is not None:
                outcomes.append(outcome)
                if outcome.handoff:
                    break  # the rest of this batch is for the human now
        await _finish(context, session, recipient, outcomes, last_id)
        return True


async def resume_delay(context: AppContext, conversation_id: uuid.UUID, context_id: uuid.UUID) -> None:
    """A delay node's timer fired: continue that context if it still waits on it."""
    async with context.sessions() as session:
        conn = await raw_connection(session)
        try:
            recipient = await load_recipient(session, conversation_id, lock=True)
        except Exception:
            return
        active = await _active_context(conn, conversation_id)
        if active is None or active.id != context_id or recipient.is_handed_off:
            return
        contact = await _contact(conn, recipient.customer_id)
        _, outcome = await _turn(
            context, session, conn, recipient, active, FlowInput.timer(), contact, dt.datetime.now(dt.UTC)
        )
        await _finish(context, session, recipient, [outcome] if outcome else [], None)
