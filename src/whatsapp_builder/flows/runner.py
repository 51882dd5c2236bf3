"""Runs published chatbots against stored inbound messages: the glue between the pure engine and the database.

Each job holds the conversation's row lock (SELECT … FOR UPDATE) for its whole transaction, so two messages of
one customer are processed one after the other on any number of workers and hosts, never interleaved. State,
replies (as pending outbound messages with their delivery jobs) and timers are written in that one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.flows.engine import is_expired, run_turn
from whatsapp_builder.flows.graph import FlowGraph, start_matches
from whatsapp_builder.flows.http import SafeHttpPerformer
from whatsapp_builder.flows.types import ContactInfo, ContextState, EngineSettings, FlowInput
from whatsapp_builder.jobs.queue import TIMERS_QUEUE, JobSpec
from whatsapp_builder.logging import get_logger
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.inbound_service import PROCESS_INBOUND, flow_lock
from whatsapp_builder.whatsapp.outbox import Recipient, mark_read_jobs, queue_outbound_many

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


def _node_column(state: ContextState) -> str:
    return (state.current_node_id or (state.node_history[-1] if state.node_history else "") or "-")[:255]


@dataclass
class _Locked:
    """A conversation held under its row lock for this transaction, with what its turns need."""

    recipient: Recipient
    contact: ContactInfo
    inputs: list[tuple[uuid.UUID | None, FlowInput]] = field(default_factory=list)
    active: ActiveContext | None = None


@dataclass
class _ContextWrite:
    id: uuid.UUID
    conversation_id: uuid.UUID
    bot_id: uuid.UUID
    state: ContextState
    is_new: bool


@dataclass
class _Plan:
    """Everything one transaction writes for its conversations, applied with a few set-based statements."""

    contexts: dict[uuid.UUID, _ContextWrite] = field(default_factory=dict)
    timers: list[JobSpec] = field(default_factory=list)
    replies: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    handoffs: set[uuid.UUID] = field(default_factory=set)
    answered: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    context_events: list[dict[str, Any]] = field(default_factory=list)


_LOCK_CONVERSATIONS = (
    'SELECT c.id, c."customerId", c."whatsappPhoneNumberId", c."lastCustomerMessageAt", c."isHandedOff",'
    ' (SELECT p."userId" FROM conversation_participants p'
    '   WHERE p."conversationId" = c.id AND p."userId" IS DISTINCT FROM c."customerId" LIMIT 1),'
    ' u.name, u."phoneNumber"'
    ' FROM conversations c LEFT JOIN users u ON u.id = c."customerId"'
    " WHERE c.id = ANY(%s) ORDER BY c.id FOR UPDATE OF c"
)

# A conversation whose earlier flow job a worker is running is left to that worker, so messages keep their order.
# Also returns the claimed jobs' messages (one row per message, in arrival order), saving a round trip.
_CLAIM_FLOW_JOBS = (
    "WITH claimed AS ("
    " DELETE FROM procrastinate_jobs j WHERE j.lock = ANY(%s) AND j.status = 'todo' AND j.task_name = %s"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs d WHERE d.lock = j.lock AND d.status = 'doing')"
    " RETURNING j.lock, j.args)"
    ' SELECT c.lock, m.id, m."conversationId", m.type::text, m.content FROM claimed c'
    " LEFT JOIN LATERAL jsonb_array_elements_text(c.args->'message_ids') AS x(id) ON true"
    ' LEFT JOIN messages m ON m.id = x.id::uuid ORDER BY m."timestamp", m.id'
)

_ACTIVE_CONTEXTS = (
    'SELECT DISTINCT ON ("conversationId") "conversationId", id, "chatbotId", "currentNodeId", variables,'
    ' "nodeHistory", "engineState" FROM conversation_contexts'
    ' WHERE "conversationId" = ANY(%s) AND "isActive" = true ORDER BY "conversationId", "createdAt" DESC'
)


async def _lock(
    conn: AsyncConnection[Any], conversation_ids: list[uuid.UUID], *, skip_locked: bool
) -> dict[uuid.UUID, _Locked]:
    """Row-lock the conversations (in id order, so two transactions never deadlock on them)."""
    query = _LOCK_CONVERSATIONS + (" SKIP LOCKED" if skip_locked else "")
    rows = await (await conn.execute(query, (sorted(set(conversation_ids)),))).fetchall()
    locked: dict[uuid.UUID, _Locked] = {}
    for conv_id, customer_id, phone_number_id, last_customer_at, handed_off, business_id, name, phone in rows:
        if customer_id is None or business_id is None:
            log.info("flow job skipped: not a WhatsApp conversation", conversation_id=str(conv_id))
            continue
        recipient = Recipient(conv_id, customer_id, business_id, phone_number_id, last_customer_at, handed_off)
        locked[conv_id] = _Locked(recipient, ContactInfo(name=name, phone=phone))
    return locked


async def _load_inputs(
    conn: AsyncConnection[Any], locked: dict[uuid.UUID, _Locked], ids: list[uuid.UUID], rows: list[Any] | None
) -> None:
    """Each conversation's inputs, in arrival order: from `rows` (id, conversation, type, content) when the
    caller already has them, else read by id."""
    if rows is None:
        rows = (
            await (
                await conn.execute(
                    'SELECT id, "conversationId", type::text, content FROM messages WHERE id = ANY(%s)'
                    ' ORDER BY "timestamp", id',
                    (ids,),
                )
            ).fetchall()
            if ids
            else []
        )
    for message_id, conversation_id, message_type, content in rows:
        if message_id is not None and conversation_id in locked:
            locked[conversation_id].inputs.append((message_id, FlowInput.from_message(message_type, content)))


async def _load_active(conn: AsyncConnection[Any], locked: dict[uuid.UUID, _Locked]) -> None:
    rows = await (await conn.execute(_ACTIVE_CONTEXTS, (list(locked),))).fetchall()
    for conversation_id, context_id, chatbot_id, node, variables, history, engine in rows:
        state = ContextState.from_dict(
            {"currentNodeId": node, "variables": variables, "nodeHistory": history, "isActive": True, "engine": engine}
        )
        locked[conversation_id].active = ActiveContext(context_id, chatbot_id, state)


async def _published_bots(context: AppContext, conn: AsyncConnection[Any]) -> list[PublishedBot]:
    """Every active published chatbot, oldest first (the first is the default)."""
    rows = await (await conn.execute(_SELECT_BOTS + ' ORDER BY "createdAt" ASC, id ASC')).fetchall()
    bots = []
    for row in rows:
        graph = context.bots.compiled(row[0], row[4], row[1], row[2])
        if graph is not None:
            bots.append(PublishedBot(row[0], graph, engine_settings(context, row[3])))
    return bots


def _select_bot(bots: list[PublishedBot], text: str | None) -> PublishedBot | None:
    """A bot whose start trigger matches the message, else the default: the oldest active one."""
    for bot in bots:
        if start_matches(bot.graph, text):
            return bot
    return bots[0] if bots else None


def _end(plan: _Plan, conversation_id: uuid.UUID, active: ActiveContext, reason: str) -> None:
    ended = active.state.copy()
    ended.is_active = False
    ended.engine["endedReason"] = reason
    previous = plan.contexts.get(active.id)
    plan.contexts[active.id] = _ContextWrite(
        active.id, conversation_id, active.chatbot_id, ended, previous.is_new if previous else False
    )


async def _turn(
    context: AppContext,
    plan: _Plan,
    bots: list[PublishedBot],
    item: _Locked,
    flow_input: FlowInput,
    now: dt.datetime,
) -> tuple[bool, bool]:
    """One input through the conversation's bot: returns (ran, handed off)."""
    conversation_id = item.recipient.conversation_id
    active = item.active
    by_id = {b.id: b for b in bots}
    bot: PublishedBot | None = None
    if active is not None:
        bot = by_id.get(active.chatbot_id)
        if bot is None:
            _end(plan, conversation_id, active, "chatbot_unavailable")
            active = None
        elif is_expired(active.state, now, bot.settings):
            _end(plan, conversation_id, active, "timeout")
            active, bot = None, None
    item.active = active
    if bot is None:
        if flow_input.kind == "timer":
            return False, False
        bot = _select_bot(bots, flow_input.text)
        if bot is None:
            return False, False
    result = await run_turn(
        bot.graph,
        active.state if active else None,
        flow_input,
        contact=item.contact,
        now=now,
        settings=bot.settings,
        http=SafeHttpPerformer(context.http, allow_private=context.settings.flow_http_allow_private),
    )
    if active is not None and result.restarted:
        _end(plan, conversation_id, active, "restart")
        active = None
    previous = plan.contexts.get(active.id) if active else None
    context_id = active.id if active else context.ids.new()
    is_new = active is None or (previous is not None and previous.is_new)
    plan.contexts[context_id] = _ContextWrite(context_id, conversation_id, bot.id, result.state, is_new)
    if result.wake_at is not None and result.state.is_active:
        plan.timers.append(
            JobSpec(
                RESUME_DELAY,
                TIMERS_QUEUE,
                {"conversation_id": str(conversation_id), "context_id": str(context_id)},
                schedule_at=result.wake_at,
            )
        )
    if result.ended_reason not in (None, "completed", "handoff"):
        log.info(
            "context ended", conversation_id=str(conversation_id), reason=result.ended_reason, trace=result.log[-3:]
        )
    plan.context_events.append(
        {
            "conversationId": str(conversation_id),
            "chatbotId": str(bot.id),
            "contextId": str(context_id),
            "currentNodeId": result.state.current_node_id,
            "variables": result.state.variables,
            "isActive": result.state.is_active,
            "endedReason": result.ended_reason,
        }
    )
    plan.replies.setdefault(conversation_id, []).extend((m.type, m.content) for m in result.outgoing)
    item.active = ActiveContext(context_id, bot.id, result.state) if result.state.is_active else None
    if result.handoff:
        plan.handoffs.add(conversation_id)
    return True, result.handoff


async def _run(context: AppContext, plan: _Plan, bots: list[PublishedBot], item: _Locked, now: dt.datetime) -> None:
    """The conversation's inputs in order; a hand-off leaves the rest of them to the human."""
    last_message: uuid.UUID | None = None
    for message_id, flow_input in item.inputs:
        _, handed_off = await _turn(context, plan, bots, item, flow_input, now)
        last_message = message_id or last_message
        if handed_off:
            break
    if last_message is not None:
        plan.answered[item.recipient.conversation_id] = last_message


def _context_values(write: _ContextWrite) -> tuple[Any, ...]:
    state = write.state
    return (
        write.id,
        write.conversation_id,
        write.bot_id,
        _node_column(state),
        state.variables,
        state.node_history,
        state.is_active,
        state.engine,
    )


# The columns of a context row in `_context_values` order, from `jsonb_array_elements(%s::jsonb) AS x(r)`.
_CONTEXT_COLUMNS = "(r->>3)::varchar, r->4, r->5, (r->>6)::boolean, r->7"


async def _write_contexts(conn: AsyncConnection[Any], writes: list[_ContextWrite]) -> None:
    updates = [w for w in writes if not w.is_new]
    inserts = [w for w in writes if w.is_new]
    if updates:
        await conn.execute(
            'UPDATE conversation_contexts c SET ("currentNodeId", variables, "nodeHistory", "isActive",'
            f' "engineState", "updatedAt") = ({_CONTEXT_COLUMNS}, now())'
            " FROM jsonb_array_elements(%s::jsonb) AS x(r) WHERE c.id = (r->>0)::uuid",
            (json_rows(_context_values(w) for w in updates),),
        )
    if inserts:
        await conn.execute(
            'INSERT INTO conversation_contexts (id, "conversationId", "chatbotId", "currentNodeId", variables,'
            ' "nodeHistory", "isActive", "engineState")'
            f" SELECT (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, {_CONTEXT_COLUMNS}"
            " FROM jsonb_array_elements(%s::jsonb) AS x(r)",
            (json_rows(_context_values(w) for w in inserts),),
        )


async def _apply(
    context: AppContext, conn: AsyncConnection[Any], locked: dict[uuid.UUID, _Locked], plan: _Plan
) -> tuple[list[uuid.UUID], list[Any]]:
    """Write the plan (the caller commits, then publishes). Returns the conversations that now have replies to
    send, and the events to publish."""
    await _write_contexts(conn, list(plan.contexts.values()))
    recipients = {cid: item.recipient for cid, item in locked.items()}
    jobs: list[JobSpec] = []
    queued = await queue_outbound_many(
        context, conn, [(recipients[cid], replies) for cid, replies in plan.replies.items() if replies], jobs=jobs
    )
    with_replies = sorted({uuid.UUID(m["conversationId"]) for m in queued})
    reads = [(cid, plan.answered[cid]) for cid in with_replies if cid in plan.answered]
    # One insert; each conversation's read receipt after its replies (a lock's jobs run in insertion order).
    await context.jobs.defer(conn, [*jobs, *mark_read_jobs(context, reads), *plan.timers])
    if plan.handoffs:
        await conn.execute(
            'UPDATE conversations SET "isHandedOff" = true, "updatedAt" = now() WHERE id = ANY(%s)',
            (sorted(plan.handoffs),),
        )
    if not context.live():
        return with_replies, []
    changed = set(with_replies) | plan.handoffs
    snapshots = await conversation_snapshots(conn, changed) if changed else []
    published: list[Any] = [events.message_created(m) for m in queued]
    published += [events.context_updated(e["conversationId"], e) for e in plan.context_events]
    published += [events.conversation_updated(s) for s in snapshots]
    return with_replies, published


async def _publish(context: AppContext, published: list[Any]) -> None:
    if published:
        await context.publisher.publish(published)


async def process_inbound(context: AppContext, conversation_id: uuid.UUID, message_ids: list[uuid.UUID]) -> bool:
    """Run the conversation's bot on newly stored customer messages, in the order they arrived (a worker's job).

    Returns whether the conversation got replies to send.
    """
    return bool(await process_inbound_many(context, [(conversation_id, message_ids)]))


async def process_inbound_many(
    context: AppContext, jobs: Sequence[tuple[uuid.UUID, list[uuid.UUID]]]
) -> list[uuid.UUID]:
    """Workers' flow jobs `(conversation id, message ids)`, several in one transaction. Each conversation's row
    lock is waited for (in id order: two such transactions never deadlock). Returns the conversations that got
    replies to send."""
    async with context.transaction() as conn:
        locked = await _lock(conn, [c for c, _ in jobs], skip_locked=False)
        if not locked:
            return []
        with_replies, published = await _process(context, conn, locked, [m for _, ids in jobs for m in ids])
    await _publish(context, published)
    return with_replies


async def process_inbound_batch(
    context: AppContext, conversation_ids: list[uuid.UUID], *, skip_locked: bool = True
) -> list[uuid.UUID]:
    """The in-process fast path for many conversations in one transaction.

    It takes every flow job of these conversations still waiting in the queue (deleting them in this same
    transaction, so each is done exactly once, and left to the workers if this fails) and handles their
    messages. Conversations locked by someone else are skipped: their jobs stay queued for the workers.
    Returns the conversations that got replies to send.
    """
    async with context.transaction() as conn:
        locked = await _lock(conn, conversation_ids, skip_locked=skip_locked)
        if not locked:
            return []
        claimed = await (
            await conn.execute(_CLAIM_FLOW_JOBS, ([flow_lock(c) for c in locked], PROCESS_INBOUND))
        ).fetchall()
        if not claimed:
            return []
        owners = {flow_lock(c): c for c in locked}
        for_whom = {owners[row[0]] for row in claimed}
        locked = {c: item for c, item in locked.items() if c in for_whom}
        with_replies, published = await _process(context, conn, locked, [], [row[1:] for row in claimed])
    await _publish(context, published)
    return with_replies


async def _process(
    context: AppContext,
    conn: AsyncConnection[Any],
    locked: dict[uuid.UUID, _Locked],
    message_ids: list[uuid.UUID],
    rows: list[Any] | None = None,
) -> tuple[list[uuid.UUID], list[Any]]:
    running = {c: item for c, item in locked.items() if not item.recipient.is_handed_off}
    await _load_inputs(conn, running, message_ids, rows)
    plan = _Plan()
    if running:
        await _load_active(conn, running)
        bots = await _published_bots(context, conn)
        now = dt.datetime.now(dt.UTC)
        for item in running.values():
            await _run(context, plan, bots, item, now)
    return await _apply(context, conn, locked, plan)


async def resume_delay(context: AppContext, conversation_id: uuid.UUID, context_id: uuid.UUID) -> None:
    """A delay node's timer fired: continue that context if it still waits on it."""
    async with context.transaction() as conn:
        locked = await _lock(conn, [conversation_id], skip_locked=False)
        item = locked.get(conversation_id)
        if item is None or item.recipient.is_handed_off:
            return
        await _load_active(conn, locked)
        if item.active is None or item.active.id != context_id:
            return
        plan = _Plan()
        bots = await _published_bots(context, conn)
        await _turn(context, plan, bots, item, FlowInput.timer(), dt.datetime.now(dt.UTC))
        _, published = await _apply(context, conn, locked, plan)
    await _publish(context, published)
