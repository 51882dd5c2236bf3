"""Runs published chatbots against stored inbound messages: the glue between the pure engine and the database.

Each job holds the conversation's turn lock (flows/turn_lock.py: an advisory lock) for its whole
transaction, so two messages of one customer are processed one after the other on any number of workers and
hosts, never interleaved. State, replies (as pending outbound messages with their delivery jobs) and timers are
written in that one transaction.

Not the conversation's row lock: a turn may wait on an HTTP request node for many seconds, and the webhook's
ingest updates that row for every customer message (the window) in the one transaction it shares with every
other webhook of the process. Under a row lock, one customer writing again while their turn waited on a slow
API held up all webhooks, every customer's and every status. The row is only written at the end of the turn.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from psycopg import AsyncConnection

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.conversations.window import is_window_open
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.flows.bot_settings import engine_settings as bot_engine_settings
from whatsapp_builder.flows.engine import (
    CUSTOMER_KINDS,
    DOUBLE_TAP_SECONDS,
    is_expired,
    is_handoff,
    is_restart,
    run_turn,
)
from whatsapp_builder.flows.graph import FlowGraph, start_matches
from whatsapp_builder.flows.http import (
    HttpPerformer,
    HttpRequestSpec,
    HttpResult,
    RequestDeferred,
    SafeHttpPerformer,
)
from whatsapp_builder.flows.turn_lock import FLOW_LOCK_CLASS
from whatsapp_builder.flows.types import (
    ContactInfo,
    ContextState,
    EngineSettings,
    FlowInput,
    QuotedMessage,
    QuotedPrompt,
)
from whatsapp_builder.jobs.queue import FLOWS_QUEUE, TIMERS_QUEUE, JobSpec
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
    return bot_engine_settings(metadata, max_steps=context.settings.flow_max_steps)


_SELECT_BOTS = (
    'SELECT id, "publishedNodes", "publishedEdges", "publishedMetadata", "publishedAt" FROM chatbots'
    ' WHERE "isActive" = true AND status = \'active\' AND "publishedNodes" IS NOT NULL'
)


def _node_column(state: ContextState) -> str:
    return (state.current_node_id or (state.node_history[-1] if state.node_history else "") or "-")[:255]


@dataclass
class _Locked:
    """A conversation held under its turn lock for this transaction, with what its turns need."""

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
    # Customers opening the chat (`request_welcome`) that the bot greeted: read in the inbox, WhatsApp not told.
    greeted: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    context_events: list[dict[str, Any]] = field(default_factory=list)
    # The time of the plan's turns, written as the contexts' updatedAt: the same as their `context:updated` says.
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def absorb(self, other: _Plan) -> None:
        """Take in the plan of one conversation's turns (made apart, so that it can be dropped)."""
        self.contexts.update(other.contexts)
        self.timers.extend(other.timers)
        for conversation_id, replies in other.replies.items():
            self.replies.setdefault(conversation_id, []).extend(replies)
        self.handoffs |= other.handoffs
        self.answered.update(other.answered)
        self.greeted.extend(other.greeted)
        self.context_events.extend(other.context_events)


class _NoRequestsInBatches:
    """The HTTP performer of batched turns. An HTTP request node may wait for its API for many seconds, and the
    batch's transaction (up to 100 conversations, with their turn locks) and its slot in the stage with it: the
    other customers' replies would wait too. Such a conversation is taken out of the batch and run alone."""

    async def perform(self, request: HttpRequestSpec) -> HttpResult:
        raise RequestDeferred


# Waiting, in key order (two such transactions never deadlock on them), for the conversations `%s` names.
_WAIT_TURN_LOCKS = (
    "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(c::text) AS k FROM ({ids}) AS x(c)) AS keys"
    " ORDER BY k"
)

# A conversation with its customer and business ends, for `_locked_item`, read after its turn lock is held (in
# a statement of its own: its snapshot then holds what the lock's previous holder committed).
_CONVERSATIONS_WHERE = (
    'SELECT c.id, c."customerId", c."whatsappPhoneNumberId", c."lastCustomerMessageAt", c."isHandedOff",'
    ' (SELECT p."userId" FROM conversation_participants p'
    '   WHERE p."conversationId" = c.id AND p."userId" IS DISTINCT FROM c."customerId" LIMIT 1),'
    # The name the bot calls the customer: not the stand-in the inbox shows for one WhatsApp gave no name (their
    # phone number or, worse, their opaque BSUID: ingest's display_name), but their username, or nothing.
    " CASE WHEN btrim(u.name) IN ('', coalesce(u.bsuid, ''), coalesce(u.\"phoneNumber\", ''))"
    " THEN nullif(btrim(u.username), '') ELSE u.name END,"
    ' u."phoneNumber"'
    ' FROM conversations c LEFT JOIN users u ON u.id = c."customerId"'
    " WHERE {where} ORDER BY c.id"
)
# A worker's flow jobs name their conversations, and their messages the conversations they are in now: a
# conversation merged into another while its job waited (ingest links a customer's two identities) has moved
# its messages there.
_OF_JOBS = 'IN (SELECT unnest(%s::uuid[]) UNION SELECT "conversationId" FROM messages WHERE id = ANY(%s))'
_CONVERSATION = _CONVERSATIONS_WHERE.format(where="c.id = ANY(%s)")
_JOB_CONVERSATIONS = _CONVERSATIONS_WHERE.format(where=f"c.id {_OF_JOBS}")
_WAIT_TURN_LOCK = _WAIT_TURN_LOCKS.format(ids="SELECT unnest(%s::uuid[])")
_WAIT_JOB_TURN_LOCKS = _WAIT_TURN_LOCKS.format(
    ids='SELECT unnest(%s::uuid[]) UNION SELECT "conversationId" FROM messages WHERE id = ANY(%s)'
)

# The fast path's first statement: take the turn locks of the conversations nobody else holds, take their
# waiting flow jobs (a conversation whose earlier flow job a worker is running is left to that worker, so
# messages keep their order; 'flow:' || id is inbound_service.flow_lock) and return them with the jobs'
# messages: one row per message, in arrival order, or one row with no job for a conversation that had none.
_LOCK_AND_CLAIM = (
    "WITH locked AS MATERIALIZED (SELECT c.id FROM unnest(%s::uuid[]) AS c(id)"
    " WHERE pg_try_advisory_xact_lock(%s, hashtext(c.id::text))),"
    " claimed AS ("
    " DELETE FROM procrastinate_jobs j WHERE j.lock = ANY(ARRAY(SELECT 'flow:' || id FROM locked))"
    " AND j.status = 'todo' AND j.task_name = %s"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs d WHERE d.lock = j.lock AND d.status = 'doing')"
    " RETURNING j.lock, j.args)"
    ' SELECT l.id, cl.lock, m.id, m."conversationId", m.type::text, m.content, m."timestamp" FROM locked l'
    " LEFT JOIN claimed cl ON cl.lock = 'flow:' || l.id"
    " LEFT JOIN LATERAL jsonb_array_elements_text(cl.args->'message_ids') AS x(id) ON true"
    ' LEFT JOIN messages m ON m.id = x.id::uuid ORDER BY m."timestamp", m.id'
)

_MESSAGES = (
    'SELECT id, "conversationId", type::text, content, "timestamp" FROM messages WHERE id = ANY(%s)'
    ' ORDER BY "timestamp", id'
)

_ACTIVE_CONTEXTS_WHERE = (
    'SELECT DISTINCT ON ("conversationId") "conversationId", id, "chatbotId", "currentNodeId", variables,'
    ' "nodeHistory", "engineState" FROM conversation_contexts'
    ' WHERE "conversationId" {where} AND "isActive" = true ORDER BY "conversationId", "createdAt" DESC'
)
_ACTIVE_CONTEXTS = _ACTIVE_CONTEXTS_WHERE.format(where="= ANY(%s)")
_JOB_ACTIVE_CONTEXTS = _ACTIVE_CONTEXTS_WHERE.format(where=_OF_JOBS)


def _locked_item(row: Sequence[Any]) -> _Locked | None:
    """A `_CONVERSATION` row as a conversation the bot can answer, or None when it is not a WhatsApp one."""
    conv_id, customer_id, phone_number_id, last_customer_at, handed_off, business_id, name, phone = row[:8]
    if customer_id is None or business_id is None:
        log.info("flow job skipped: not a WhatsApp conversation", conversation_id=str(conv_id))
        return None
    recipient = Recipient(conv_id, customer_id, business_id, phone_number_id, last_customer_at, handed_off)
    return _Locked(recipient, ContactInfo(name=name, phone=phone))


def _add_inputs(locked: dict[uuid.UUID, _Locked], rows: Sequence[Sequence[Any]]) -> None:
    """Each conversation's inputs from (message id, conversation id, type, content, timestamp) rows in arrival
    order."""
    for message_id, conversation_id, message_type, content, written_at in rows:
        if message_id is not None and conversation_id in locked:
            flow_input = replace(FlowInput.from_message(message_type, content), written_at=written_at)
            locked[conversation_id].inputs.append((message_id, flow_input))


def _add_active(locked: dict[uuid.UUID, _Locked], rows: Sequence[Sequence[Any]]) -> None:
    for conversation_id, context_id, chatbot_id, node, variables, history, engine in rows:
        if conversation_id not in locked:
            continue
        state = ContextState.from_dict(
            {"currentNodeId": node, "variables": variables, "nodeHistory": history, "isActive": True, "engine": engine}
        )
        locked[conversation_id].active = ActiveContext(context_id, chatbot_id, state)


def _published_bots(context: AppContext, rows: Sequence[Sequence[Any]]) -> list[PublishedBot]:
    """Every active published chatbot from `_SELECT_BOTS` rows, oldest first (the first is the default)."""
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
    # The bot panel hears that this context stopped, before any event of the one that may follow it.
    plan.context_events.append(_context_event(conversation_id, active.chatbot_id, active.id, ended, reason, plan.now))


def _context_event(
    conversation_id: uuid.UUID,
    chatbot_id: uuid.UUID,
    context_id: uuid.UUID,
    state: ContextState,
    ended_reason: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The `context:updated` payload of a context written with this state at `now`."""
    return events.context_payload(
        conversation_id,
        chatbot_id=chatbot_id,
        context_id=context_id,
        current_node_id=state.current_node_id,
        variables=state.variables,
        node_history=state.node_history,
        is_active=state.is_active,
        ended_reason=ended_reason,
        updated_at=now,
    )


async def _turn(
    context: AppContext,
    plan: _Plan,
    bots: list[PublishedBot],
    item: _Locked,
    flow_input: FlowInput,
    now: dt.datetime,
    http: HttpPerformer,
) -> tuple[bool, bool]:
    """One input through the conversation's bot: returns (ran, handed off)."""
    conversation_id = item.recipient.conversation_id
    if flow_input.tapped_before and item.active is None:
        return False, False  # a double tap on the last question of a finished flow starts nothing
    active = item.active
    by_id = {b.id: b for b in bots}
    bot: PublishedBot | None = None
    timeout_notice: str | None = None
    if active is not None:
        bot = by_id.get(active.chatbot_id)
        if bot is None:
            _end(plan, conversation_id, active, "chatbot_unavailable")
            active = None
        elif is_expired(active.state, now, bot.settings):
            _end(plan, conversation_id, active, "timeout")
            timeout_notice = bot.settings.timeout_message
            active, bot = None, None
    item.active = active
    if active is not None and flow_input.quoted_chatbot_id not in (None, active.chatbot_id):
        flow_input = replace(flow_input, foreign_prompt=True)
    if bot is None:
        if flow_input.kind == "timer":
            return False, False
        sender = by_id.get(flow_input.quoted_chatbot_id) if flow_input.quoted_chatbot_id else None
        if flow_input.quoted_prompt is not None and sender is not None:
            bot = sender  # a tap on one of its prompts: that chatbot goes on from there (engine: _node_of_old_tap)
        else:
            bot = _select_bot(bots, flow_input.text)
            # Another chatbot's options (or a prompt of no chatbot running now) are not this one's to resume.
            flow_input = replace(flow_input, quoted_prompt=None)
        if bot is None:
            return False, False
        if timeout_notice:
            flow_input = replace(flow_input, timeout_notice=timeout_notice)
    result = await run_turn(
        bot.graph,
        active.state if active else None,
        flow_input,
        contact=item.contact,
        now=now,
        settings=bot.settings,
        http=http,
    )
    if active is not None and not result.restarted and result.steps == 0 and result.state == active.state:
        # Ignored (delivered late, a double tap, "menu" with "hi"): nothing moved, so nothing is written or announced.
        return False, False
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
        _context_event(conversation_id, bot.id, context_id, result.state, result.ended_reason, now)
    )
    plan.replies.setdefault(conversation_id, []).extend((m.type, m.content) for m in result.outgoing)
    item.active = ActiveContext(context_id, bot.id, result.state) if result.state.is_active else None
    if result.handoff:
        plan.handoffs.add(conversation_id)
    return True, result.handoff


async def _run(
    context: AppContext, plan: _Plan, bots: list[PublishedBot], item: _Locked, now: dt.datetime, http: HttpPerformer
) -> None:
    """The conversation's inputs in order; a hand-off leaves the rest of them to the human."""
    last_message: uuid.UUID | None = None
    replies = plan.replies.setdefault(item.recipient.conversation_id, [])
    prompted = False
    ran = False
    for message_id, flow_input in item.inputs:
        if prompted and flow_input.quoted_prompt == "latest":
            # An earlier input of this batch made the bot ask anew: the prompt this tap quotes is no longer the newest.
            flow_input = replace(flow_input, quoted_prompt="earlier")
        if len(replies) and flow_input.kind in CUSTOMER_KINDS:
            # The replies to an earlier input of this batch are not sent yet: this one was written without them.
            flow_input = replace(flow_input, prompt_unseen=True)
            # An earlier input ended the flow ("2" sent twice to the last question): this one was written before
            # the customer saw it end, so it starts nothing. A trigger, restart or hand-off keyword still does, and
            # so does a tap on a prompt the customer had in front of them.
            if (
                ran
                and item.active is None
                and flow_input.quoted_prompt is None
                and not any(
                    start_matches(b.graph, flow_input.text)
                    or is_restart(flow_input, b.settings)
                    or is_handoff(flow_input, b.settings)
                    for b in bots
                )
            ):
                last_message = message_id or last_message
                continue
        sent = len(replies)
        took, handed_off = await _turn(context, plan, bots, item, flow_input, now, http)
        ran = ran or took
        prompted = prompted or any(kind == "interactive" for kind, _ in replies[sent:])
        if flow_input.kind != "welcome":  # opening the chat is no message the customer could see as read
            last_message = message_id or last_message
        elif message_id is not None:
            plan.greeted.append((item.recipient.conversation_id, message_id))
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


# A context's "updatedAt" is never before the transaction that writes it began (the database's clock): the
# double-tap rule (_QUOTED) compares it with the time a tap was stored, which is the database's too, and a
# server whose clock runs behind would otherwise not see that its bot took a tap.
_WRITTEN_AT = "greatest(%s::timestamptz, now())"


async def _write_contexts(conn: AsyncConnection[Any], writes: list[_ContextWrite], now: dt.datetime) -> None:
    updates = [w for w in writes if not w.is_new]
    inserts = [w for w in writes if w.is_new]
    if updates:
        await conn.execute(
            'UPDATE conversation_contexts c SET ("currentNodeId", variables, "nodeHistory", "isActive",'
            f' "engineState", "updatedAt") = ({_CONTEXT_COLUMNS}, {_WRITTEN_AT})'
            " FROM jsonb_array_elements(%s::jsonb) AS x(r) WHERE c.id = (r->>0)::uuid",
            (now, json_rows(_context_values(w) for w in updates)),
        )
    if inserts:
        await conn.execute(
            'INSERT INTO conversation_contexts (id, "conversationId", "chatbotId", "currentNodeId", variables,'
            ' "nodeHistory", "isActive", "engineState", "updatedAt")'
            f" SELECT (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, {_CONTEXT_COLUMNS}, {_WRITTEN_AT}"
            " FROM jsonb_array_elements(%s::jsonb) AS x(r)",
            (now, json_rows(_context_values(w) for w in inserts)),
        )


async def _apply(
    context: AppContext, conn: AsyncConnection[Any], locked: dict[uuid.UUID, _Locked], plan: _Plan
) -> tuple[list[uuid.UUID], list[Any]]:
    """Write the plan (the caller commits, then publishes). Returns the conversations that now have replies to
    send, and the events to publish. Nothing here waits for an answer unless events are wanted, so in pipeline
    mode the writes go out together with the commit."""
    live = context.live()
    await _write_contexts(conn, list(plan.contexts.values()), plan.now)
    recipients = {cid: item.recipient for cid, item in locked.items()}
    jobs: list[JobSpec] = []
    with_replies = sorted(cid for cid, replies in plan.replies.items() if replies)
    queued = await queue_outbound_many(
        context,
        conn,
        [(recipients[cid], plan.replies[cid]) for cid in with_replies],
        sent_by="bot",
        jobs=jobs,
        returning=live,
    )
    # Blue ticks only where the replies can go out: a message WhatsApp delivered after its 24 hours (a late
    # retry) gets replies that are refused, and stays unread for an operator, who can answer with a template.
    # Nor where the turn handed the conversation to a person: what the customer wrote waits for them, unread in
    # the inbox (the bot's "one moment" is no answer), until an operator opens it.
    reads = [
        (cid, plan.answered[cid])
        for cid in with_replies
        if cid in plan.answered
        and cid not in plan.handoffs
        and is_window_open(recipients[cid].last_customer_message_at, plan.now)
    ]
    # One insert; each conversation's read receipt after its replies (a lock's jobs run in insertion order).
    await context.jobs.defer(conn, [*jobs, *mark_read_jobs(context, reads), *plan.timers])
    if plan.handoffs:
        await conn.execute(
            'UPDATE conversations SET "isHandedOff" = true, "updatedAt" = now() WHERE id = ANY(%s)',
            (sorted(plan.handoffs),),
        )
    greeted = [m for cid, m in plan.greeted if plan.replies.get(cid)]
    if greeted:
        # The bot's greeting answered it: no unread badge for an opened chat (the replies' snapshot counts).
        await conn.execute(
            "UPDATE messages SET status = 'read', \"updatedAt\" = now() WHERE id = ANY(%s) AND status <> 'read'",
            (greeted,),
        )
    if not live:
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


_BOTS_OLDEST_FIRST = _SELECT_BOTS + ' ORDER BY "createdAt" ASC, id ASC'


async def process_inbound_many(
    context: AppContext,
    jobs: Sequence[tuple[uuid.UUID, list[uuid.UUID]]],
    own_turns: list[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Workers' flow jobs `(conversation id, message ids)`, several in one transaction. Each conversation's turn
    lock is waited for (in key order: two such transactions never deadlock). Returns the conversations that got
    replies to send. Given `own_turns`, a conversation whose turn calls an API is left out and named there: its
    job is to be run alone (`process_inbound_many` without `own_turns`)."""
    conversation_ids = sorted({c for c, _ in jobs})
    message_ids = [m for _, ids in jobs for m in ids]
    # Pipeline mode: the lock and the reads after it go out in one round trip, the writes with the commit.
    async with context.transaction() as conn, conn.pipeline():
        await conn.execute(_WAIT_JOB_TURN_LOCKS, (FLOW_LOCK_CLASS, conversation_ids, message_ids))
        lock = await conn.execute(_JOB_CONVERSATIONS, (conversation_ids, message_ids))
        inputs = await conn.execute(_MESSAGES, (message_ids,))
        active = await conn.execute(_JOB_ACTIVE_CONTEXTS, (conversation_ids, message_ids))
        bots = await conn.execute(_BOTS_OLDEST_FIRST)
        locked = {row[0]: item for row in await lock.fetchall() if (item := _locked_item(row)) is not None}
        with_replies, published = await _process(
            context,
            conn,
            locked,
            await inputs.fetchall(),
            await active.fetchall(),
            await bots.fetchall(),
            own_turns,
        )
    await _publish(context, published)
    return with_replies


async def process_inbound_batch(
    context: AppContext, conversation_ids: list[uuid.UUID], own_turns: list[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """The in-process fast path for many conversations in one transaction.

    It takes every flow job of these conversations still waiting in the queue (deleting them in this same
    transaction, so each is done exactly once, and left to the workers if this fails) and handles their
    messages. Conversations locked by someone else are skipped: their jobs stay queued for the workers.
    Returns the conversations that got replies to send. Given `own_turns`, a conversation whose turn calls an
    API is left out: its messages go back to the queue as a flow job, and it is named there, to be run alone
    (`process_inbound_batch` without `own_turns`).
    """
    ids = sorted(set(conversation_ids))
    async with context.transaction() as conn, conn.pipeline():
        claim = await conn.execute(_LOCK_AND_CLAIM, (ids, FLOW_LOCK_CLASS, PROCESS_INBOUND))
        # After the locks, in statements of their own: their snapshots hold what a lock's last holder committed.
        conversations = await conn.execute(_CONVERSATION, (ids,))
        active = await conn.execute(_ACTIVE_CONTEXTS, (ids,))
        bots = await conn.execute(_BOTS_OLDEST_FIRST)
        rows = {row[0]: row for row in await conversations.fetchall()}
        locked: dict[uuid.UUID, _Locked] = {}
        claimed: list[Any] = []
        taken: dict[uuid.UUID, list[str]] = {}
        for row in await claim.fetchall():
            if row[1] is None:
                continue  # no flow job waiting (another process took it)
            found = rows.get(row[0])
            if found is not None and row[0] not in locked and (item := _locked_item(found)) is not None:
                locked[row[0]] = item
            claimed.append(row[2:])
            if row[2] is not None:
                taken.setdefault(row[0], []).append(str(row[2]))
        if not locked:
            return []
        alone: list[uuid.UUID] | None = [] if own_turns is not None else None
        with_replies, published = await _process(
            context, conn, locked, claimed, await active.fetchall(), await bots.fetchall(), alone
        )
        if alone:
            # Back in the queue, as the webhook deferred them: the turn run alone takes them as this batch did.
            await context.jobs.defer(
                conn,
                [
                    JobSpec(
                        PROCESS_INBOUND,
                        FLOWS_QUEUE,
                        {"conversation_id": str(c), "message_ids": taken.get(c, [])},
                        lock=flow_lock(c),
                    )
                    for c in alone
                ],
            )
    await _publish(context, published)
    if alone and own_turns is not None:
        own_turns.extend(alone)  # after the commit: their jobs are there to take
    return with_replies


# For customer messages that quote one of the bot's interactive messages in their conversation (message id,
# conversation, quoted WhatsApp id, option tapped if a tap, when written): whether that message is the newest
# interactive one the bot sent there (a tap's "latest" prompt), whether the bot sent anything at all since, whether
# the customer tapped this same option on it just before (an earlier stored message, ids being time-ordered, written
# at most DOUBLE_TAP_SECONDS before) and a bot took that tap (a context of the conversation written since it was
# stored, or it is in this batch): a double tap. The same option tapped again later is meant (an old menu used
# again), and so is a tap again after one no bot took (made while an operator had the conversation, or the bot was
# off). Then the chatbot whose run sent it, and its content.
_QUOTED = (
    "SELECT x.id, NOT EXISTS (SELECT 1 FROM messages n"
    ' WHERE n."conversationId" = p."conversationId" AND n."timestamp" > p."timestamp"'
    " AND n.\"sentBy\" = 'bot' AND n.type = 'interactive'),"
    " NOT EXISTS (SELECT 1 FROM messages n"
    ' WHERE n."conversationId" = p."conversationId" AND n."timestamp" > p."timestamp" AND n."sentBy" = \'bot\'),'
    ' EXISTS (SELECT 1 FROM messages r WHERE r."conversationId" = p."conversationId" AND r.id < x.id'
    " AND r.direction = 'inbound' AND r.content->>'replyTo' = x.reply_to"
    " AND coalesce(r.content->>'buttonId', r.content->>'listRowId') = x.tapped"
    ' AND r."timestamp" >= x.written_at - make_interval(secs => %s)'
    # Nothing else written between (a tap again after answering on, a new order on the same menu, is meant);
    # a third tap of the same is no "else".
    ' AND NOT EXISTS (SELECT 1 FROM messages o WHERE o."conversationId" = p."conversationId"'
    "  AND o.direction = 'inbound' AND o.id > r.id AND o.id < x.id"
    "  AND NOT (o.content->>'replyTo' IS NOT DISTINCT FROM x.reply_to"
    "  AND coalesce(o.content->>'buttonId', o.content->>'listRowId') IS NOT DISTINCT FROM x.tapped))"
    " AND (r.id = ANY(%s::uuid[]) OR EXISTS (SELECT 1 FROM conversation_contexts c"
    '  WHERE c."conversationId" = p."conversationId" AND c."updatedAt" >= r."createdAt"))),'
    # The chatbot that sent the prompt: the conversation's context made last before it (in its transaction at
    # the latest), whose run it was.
    ' (SELECT c."chatbotId" FROM conversation_contexts c WHERE c."conversationId" = p."conversationId"'
    '  AND c."createdAt" <= p."createdAt" ORDER BY c."createdAt" DESC, c.id DESC LIMIT 1), p.content'
    " FROM jsonb_to_recordset(%s::jsonb)"
    " AS x(id uuid, conversation uuid, reply_to text, tapped text, written_at timestamptz)"
    ' JOIN messages p ON p."whatsappMessageId" = x.reply_to AND p."conversationId" = x.conversation'
    " WHERE p.\"sentBy\" = 'bot' AND p.type = 'interactive'"
)


def _quoted_message(content: object, nothing_since: bool) -> QuotedMessage:
    """A stored interactive message of the bot's, as the engine compares it with its steps."""
    body = content if isinstance(content, dict) else {}
    text = body.get("body")
    if body.get("kind") == "list":
        rows = [r for s in body.get("sections") or [] if isinstance(s, dict) for r in s.get("rows") or []]
        options = tuple((str(r.get("id")), str(r.get("title"))) for r in rows if isinstance(r, dict))
        return QuotedMessage(True, str(text or ""), options, nothing_since)
    buttons = body.get("buttons") or []
    options = tuple((str(b.get("id")), str(b.get("title"))) for b in buttons if isinstance(b, dict))
    return QuotedMessage(False, str(text or ""), options, nothing_since)


async def _find_quoted(conn: AsyncConnection[Any], running: dict[uuid.UUID, _Locked]) -> None:
    """Mark each tap, and each text, that quotes one of the bot's interactive messages in its conversation
    (WhatsApp's `context.id`, a swipe to reply): that message and the chatbot that sent it (FlowInput.quoted); for a
    tap also whether it is the newest prompt or an earlier one, and whether the same option was tapped on it
    moments before."""
    quoting = [
        {
            "id": str(message_id),
            "conversation": str(conversation_id),
            "reply_to": fi.reply_to,
            "tapped": fi.tapped_id,
            "written_at": fi.written_at.isoformat() if fi.written_at else None,
        }
        for conversation_id, item in running.items()
        for message_id, fi in item.inputs
        if message_id is not None and fi.reply_to and (fi.tapped_id or (fi.kind == "text" and fi.text))
    ]
    if not quoting:
        return
    taps = [quote["id"] for quote in quoting if quote["tapped"]]
    rows = await (await conn.execute(_QUOTED, (DOUBLE_TAP_SECONDS, taps, json.dumps(quoting)))).fetchall()
    found = {row[0]: row[1:] for row in rows}
    for item in running.values():
        marked: list[tuple[uuid.UUID | None, FlowInput]] = []
        for message_id, fi in item.inputs:
            row = found.get(message_id) if message_id is not None else None
            if row is not None:
                newest_prompt, nothing_since, repeated, sender, content = row
                fi = replace(fi, quoted=_quoted_message(content, nothing_since), quoted_chatbot_id=sender)
                if fi.tapped_id:
                    prompt: QuotedPrompt = "latest" if newest_prompt else "earlier"
                    fi = replace(fi, quoted_prompt=prompt, tapped_before=repeated)
            marked.append((message_id, fi))
        item.inputs = marked


async def _process(
    context: AppContext,
    conn: AsyncConnection[Any],
    locked: dict[uuid.UUID, _Locked],
    inputs: Sequence[Sequence[Any]],
    active: Sequence[Sequence[Any]],
    bot_rows: Sequence[Sequence[Any]],
    own_turns: list[uuid.UUID] | None = None,
) -> tuple[list[uuid.UUID], list[Any]]:
    """Run the conversations' turns and write them. Given `own_turns` (a group-committed batch), a conversation
    whose turn reaches an HTTP request node is left out, unwritten, and named there to be run alone."""
    plan = _Plan()
    # Not while a human has the conversation, nor when its 24-hour window is already closed (WhatsApp delivered
    # the message more than a day late, after retrying): no reply could go, and the flow would move on to wait
    # for answers to questions the customer never got. The message stays unread for an operator's template.
    running = {
        c: item
        for c, item in locked.items()
        if not item.recipient.is_handed_off and is_window_open(item.recipient.last_customer_message_at, plan.now)
    }
    _add_inputs(running, inputs)
    await _find_quoted(conn, running)
    _add_active(running, active)
    if running:
        bots = _published_bots(context, bot_rows)
        http: HttpPerformer = (
            SafeHttpPerformer(context.http, allow_private=context.settings.flow_http_allow_private)
            if own_turns is None
            else _NoRequestsInBatches()
        )
        for conversation_id, item in running.items():
            turns = _Plan(now=plan.now)
            try:
                await _run(context, turns, bots, item, plan.now, http)
            except RequestDeferred:
                assert own_turns is not None
                own_turns.append(conversation_id)
                continue
            plan.absorb(turns)
    return await _apply(context, conn, locked, plan)


async def resume_delay(context: AppContext, conversation_id: uuid.UUID, context_id: uuid.UUID) -> None:
    """A delay node's timer fired: continue that context if it still waits on it."""
    async with context.transaction() as conn, conn.pipeline():
        await conn.execute(_WAIT_TURN_LOCK, (FLOW_LOCK_CLASS, [conversation_id]))
        lock = await conn.execute(_CONVERSATION, ([conversation_id],))
        active = await conn.execute(_ACTIVE_CONTEXTS, ([conversation_id],))
        bots = await conn.execute(_BOTS_OLDEST_FIRST)
        row = await lock.fetchone()
        item = _locked_item(row) if row is not None else None
        if item is None or item.recipient.is_handed_off:
            return
        locked = {conversation_id: item}
        _add_active(locked, await active.fetchall())
        if item.active is None or item.active.id != context_id:
            return
        plan = _Plan()
        await _turn(
            context,
            plan,
            _published_bots(context, await bots.fetchall()),
            item,
            FlowInput.timer(),
            plan.now,
            SafeHttpPerformer(context.http, allow_private=context.settings.flow_http_allow_private),
        )
        _, published = await _apply(context, conn, locked, plan)
    await _publish(context, published)
