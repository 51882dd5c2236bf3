"""Operators in the inbox: send a message (through the outbox), take over from the bot, hand back."""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

from psycopg import AsyncConnection

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.conversations.window import is_window_open
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.errors import Conflict, Unprocessable
from whatsapp_builder.flows.turn_lock import wait_turn_lock
from whatsapp_builder.jobs.queue import raw_connection
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp import fast_path
from whatsapp_builder.whatsapp.outbound import (
    WAMID_PREFIX,
    OutboundValidationError,
    ReactionMessage,
    is_template,
    parse_outbound,
)
from whatsapp_builder.whatsapp.outbox import load_recipient, mark_inbound_read, queue_mark_read, queue_outbound


async def send_as_operator(context: AppContext, conversation_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
    try:
        message = parse_outbound(body)
    except OutboundValidationError as exc:
        raise Unprocessable("The message breaks WhatsApp's rules.", details=exc.details) from exc
    payload = message.as_json()
    async with context.sessions() as session:
        recipient = await load_recipient(session, conversation_id)
        conn = await raw_connection(session)
        if isinstance(message, ReactionMessage):
            payload["content"]["messageId"] = await _reacted_message_id(conn, conversation_id, message)
        config = await context.active_config.get()
        if config is None:
            # As POST /api/conversations answers: accepted now, the message could only fail later.
            raise Conflict(
                "No WhatsApp number is connected: set the WhatsApp config (Settings) before sending.",
                code="not_configured",
            )
        if recipient.phone_number_id not in (None, config.phone_number_id):
            raise Conflict(
                f"This conversation is on WhatsApp number {recipient.phone_number_id}, which is not the connected"
                " one: a reply must come from the number the customer wrote to.",
                code="number_not_connected",
            )
        if not is_template(message) and not is_window_open(recipient.last_customer_message_at):
            raise Conflict(
                "The 24-hour customer service window is closed: only a template message can be sent.",
                code="window_closed",
            )
        last_inbound = await (
            await conn.execute(
                "SELECT id FROM messages WHERE \"conversationId\" = %s AND direction = 'inbound'"
                " AND status <> 'read' ORDER BY \"timestamp\" DESC, id DESC LIMIT 1",
                (conversation_id,),
            )
        ).fetchone()
        queued = await queue_outbound(
            context, session, recipient, [(payload["type"], payload["content"])], sent_by="operator"
        )
        if last_inbound is not None:
            await queue_mark_read(context, session, conversation_id, last_inbound[0])
        snapshots = await conversation_snapshots(session, [conversation_id])
        await session.commit()
    await context.publisher.publish(
        [events.message_created(m) for m in queued] + [events.conversation_updated(s) for s in snapshots]
    )
    context.inline.submit(functools.partial(fast_path.deliver_soon, context, conversation_id))
    return queued[0]


# WhatsApp ids are base64 after the prefix; printable ASCII with no spaces, as stored (varchar 255).
_WAMID = re.compile(r"wamid\.[\x21-\x7e]{1,249}")


def _bad_reaction_target(message: str) -> Unprocessable:
    return Unprocessable(
        "The message reacted to cannot be used.", details=[{"field": "content.messageId", "message": message}]
    )


async def _reacted_message_id(conn: AsyncConnection[Any], conversation_id: uuid.UUID, message: ReactionMessage) -> str:
    """What a reaction stores as `messageId`: our id of a message of this conversation that has a WhatsApp id
    (delivery sends that WhatsApp id), or a WhatsApp id (``wamid.…``) as given."""
    value = message.content.message_id
    if value.startswith(WAMID_PREFIX):
        if not _WAMID.fullmatch(value):
            raise _bad_reaction_target("a WhatsApp message id is 'wamid.' and then its id, with no spaces")
        return value
    try:
        target = uuid.UUID(value)
    except ValueError:
        raise _bad_reaction_target(
            "must be the id of a message in this conversation (or a WhatsApp message id, 'wamid.…')"
        ) from None
    row = await (
        await conn.execute(
            'SELECT "whatsappMessageId" FROM messages WHERE id = %s AND "conversationId" = %s',
            (target, conversation_id),
        )
    ).fetchone()
    if row is None:
        raise _bad_reaction_target(f"no message {target} in this conversation")
    if row[0] is None:
        raise _bad_reaction_target(
            f"message {target} has no WhatsApp id yet (not accepted by WhatsApp, or failed): react once it is sent"
        )
    return str(target)


async def mark_conversation_read(context: AppContext, conversation_id: uuid.UUID) -> dict[str, Any]:
    """An operator has read the conversation: its customer messages are read in the inbox at once, and WhatsApp
    is told (blue ticks for the customer) by the same read-receipt job the bot's replies queue."""
    async with context.sessions() as session:
        await load_recipient(session, conversation_id)
        conn = await raw_connection(session)
        rows = await mark_inbound_read(conn, conversation_id)
        if rows:
            newest = max(rows, key=lambda r: (r[2], r[0]))
            await queue_mark_read(context, session, conversation_id, newest[0])
        snapshot = (await conversation_snapshots(session, [conversation_id]))[0]
        await session.commit()
    if rows:
        await context.publisher.publish(
            [events.message_status(r[0], conversation_id, "read", r[1], None) for r in rows]
            + [events.conversation_updated(snapshot)]
        )
    return snapshot


_CONTEXT_RETURNING = ' RETURNING id, "chatbotId", "currentNodeId", variables, "nodeHistory", "updatedAt"'
# Taking over ends the running context; one that waited for the customer's answer is marked as paused there.
# `handedOffAt` stays after a hand-back, so the dashboard still counts the take-over on its day.
_TAKE_OVER = (
    'UPDATE conversation_contexts SET "isActive" = false, "updatedAt" = now(),'
    " \"engineState\" = \"engineState\" || jsonb_build_object('endedReason', 'handoff',"
    " 'handedOffAt', coalesce(\"engineState\"->'handedOffAt', to_jsonb(now())),"
    " 'pausedByOperator', coalesce(\"engineState\"->>'waiting' IN ('question', 'buttons', 'list'), false))"
    ' WHERE "conversationId" = %s AND "isActive"' + _CONTEXT_RETURNING
)
# Handing back resumes the context the take-over paused (the conversation's latest), waiting for the same answer.
# A bot that stopped by itself (a handoff node, the end), or that was waiting on a delay, starts anew instead.
_HAND_BACK = (
    'UPDATE conversation_contexts x SET "isActive" = true, "updatedAt" = now(),'
    " \"engineState\" = x.\"engineState\" - 'endedReason' - 'pausedByOperator'"
    ' WHERE x.id = (SELECT l.id FROM conversation_contexts l WHERE l."conversationId" = %s'
    ' ORDER BY l."createdAt" DESC, l.id DESC LIMIT 1)'
    " AND NOT x.\"isActive\" AND x.\"engineState\"->>'pausedByOperator' = 'true'" + _CONTEXT_RETURNING
)


async def set_handoff(context: AppContext, conversation_id: uuid.UUID, handed_off: bool) -> dict[str, Any]:
    """Take over (the bot's running context ends and it stays silent) or hand back to the bot (which carries on
    where the take-over stopped it, when it was waiting for the customer's answer)."""
    async with context.sessions() as session:
        conn = await raw_connection(session)
        await wait_turn_lock(conn, conversation_id)  # a turn under way ends first: it would revive the context
        await load_recipient(session, conversation_id, lock=True)
        # Asked again (a double click, a retry): nothing changes, and nothing is announced.
        moved = await (
            await conn.execute(
                'UPDATE conversations SET "isHandedOff" = %s, "updatedAt" = now()'
                ' WHERE id = %s AND "isHandedOff" IS DISTINCT FROM %s RETURNING id',
                (handed_off, conversation_id, handed_off),
            )
        ).fetchall()
        changed = await (await conn.execute(_TAKE_OVER if handed_off else _HAND_BACK, (conversation_id,))).fetchall()
        snapshot = (await conversation_snapshots(session, [conversation_id]))[0]
        await session.commit()
    # The bot panel hears that the bot stopped (as when a flow's handoff node stops it, flows/runner.py) or
    # carries on.
    contexts = [
        events.context_updated(
            conversation_id,
            events.context_payload(
                conversation_id,
                chatbot_id=chatbot_id,
                context_id=context_id,
                current_node_id=node,
                variables=variables,
                node_history=history,
                is_active=not handed_off,
                ended_reason="handoff" if handed_off else None,
                updated_at=updated_at,
            ),
        )
        for context_id, chatbot_id, node, variables, history, updated_at in changed
    ]
    if moved or contexts:
        await context.publisher.publish([*contexts, events.conversation_updated(snapshot)])
    return snapshot
