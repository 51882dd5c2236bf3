"""The outbox: outbound messages are committed as `pending` with a delivery job in the same transaction.

Whoever sends (the flow engine or an operator) only writes rows; the delivery job calls the Graph API. A crash
after the commit loses nothing: the job runs when a worker is back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.errors import NotFound, Unprocessable
from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.core.schemas import api_time
from whatsapp_builder.jobs.queue import SEND_QUEUE, JobSpec, raw_connection

Author = Literal["bot", "operator"]
"""Who wrote an outbound message (`messages.sentBy`): a chatbot's flow, or an operator through the API."""

DELIVER_MESSAGE = "deliver_message"
MARK_READ = "mark_read"


def send_lock(conversation_id: object) -> str:
    return f"send:{conversation_id}"


@dataclass(frozen=True)
class Recipient:
    """A WhatsApp conversation's two ends."""

    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    business_id: uuid.UUID
    phone_number_id: str | None
    last_customer_message_at: dt.datetime | None
    is_handed_off: bool


async def load_recipient(session: AsyncSession, conversation_id: uuid.UUID, *, lock: bool = False) -> Recipient:
    conn = await raw_connection(session)
    row = await (
        await conn.execute(
            'SELECT c."customerId", c."whatsappPhoneNumberId", c."lastCustomerMessageAt", c."isHandedOff",'
            ' (SELECT p."userId" FROM conversation_participants p'
            '   WHERE p."conversationId" = c.id AND p."userId" IS DISTINCT FROM c."customerId" LIMIT 1)'
            " FROM conversations c WHERE c.id = %s" + (" FOR UPDATE OF c" if lock else ""),
            (conversation_id,),
        )
    ).fetchone()
    if row is None:
        raise NotFound(f"Conversation {conversation_id} does not exist.")
    customer_id, phone_number_id, last_customer_at, handed_off, business_id = row
    if customer_id is None or business_id is None:
        raise Unprocessable("This conversation has no WhatsApp customer to send to.")
    return Recipient(conversation_id, customer_id, business_id, phone_number_id, last_customer_at, handed_off)


async def queue_outbound(
    context: AppContext,
    session: AsyncSession,
    recipient: Recipient,
    messages: list[tuple[str, dict[str, Any]]],
    *,
    sent_by: Author,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Insert `(type, content)` messages as pending outbound and defer their delivery, in order."""
    return await queue_outbound_many(context, session, [(recipient, messages)], sent_by=sent_by, now=now)


async def queue_outbound_many(
    context: AppContext,
    session: AsyncSession | psycopg.AsyncConnection[Any],
    batches: list[tuple[Recipient, list[tuple[str, dict[str, Any]]]]],
    *,
    sent_by: Author,
    now: dt.datetime | None = None,
    jobs: list[JobSpec] | None = None,
    returning: bool = True,
) -> list[dict[str, Any]]:
    """`queue_outbound` for several conversations at once: one insert, one defer (or, given `jobs`, the
    delivery jobs are appended there for the caller to defer with its own). With `returning=False` the messages
    are not read back (nothing to wait for in pipeline mode) and the list is empty."""
    rows_in: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, dict[str, Any], dt.datetime]] = []
    now = now or dt.datetime.now(dt.UTC)
    for recipient, messages in batches:
        for i, (message_type, content) in enumerate(messages):
            # Distinct timestamps keep the replies of one turn in order wherever they are listed.
            stamp = now + dt.timedelta(microseconds=i)
            rows_in.append(
                (
                    context.ids.new(),
                    recipient.conversation_id,
                    recipient.business_id,
                    message_type,
                    content,
                    stamp,
                )
            )
    if not rows_in:
        return []
    conn = await raw_connection(session)
    insert = await conn.execute(
        'INSERT INTO messages (id, "conversationId", "senderId", type, content, status, "timestamp", direction,'
        " \"sentBy\") SELECT (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, (r->>3)::message_type, r->4, 'pending',"
        " (r->>5)::timestamptz, 'outbound', %s::message_author FROM jsonb_array_elements(%s::jsonb) AS x(r)"
        # Not `content`: it is what was just written, and reading it back means decoding JSON again.
        + (
            ' RETURNING id, "conversationId", "senderId", type::text, status::text, "timestamp",'
            ' "whatsappMessageId", error, "createdAt", "updatedAt"'
            if returning
            else ""
        ),
        (sent_by, json_rows(rows_in)),
    )
    rows = await insert.fetchall() if returning else []
    context.statistics.grew(len(rows_in))
    # Deferred in the order inserted: a conversation's replies are delivered one after another, in order.
    specs = [
        JobSpec(DELIVER_MESSAGE, SEND_QUEUE, {"message_id": str(row[0])}, lock=send_lock(row[1])) for row in rows_in
    ]
    if jobs is None:
        await context.jobs.defer(session, specs)
    else:
        jobs.extend(specs)
    contents = {row[0]: row[4] for row in rows_in}
    return sorted(
        (message_row(r, contents[r[0]], sent_by) for r in rows), key=lambda m: (m["conversationId"], m["timestamp"])
    )


def message_row(row: Any, content: dict[str, Any], sent_by: Author) -> dict[str, Any]:
    """A RETURNING row (id, conversationId, senderId, type, status, timestamp, whatsappMessageId, error,
    createdAt, updatedAt) and its content, as the API shows a message."""
    return {
        "id": str(row[0]),
        "conversationId": str(row[1]),
        "senderId": str(row[2]),
        "type": row[3],
        "content": content,
        "status": row[4],
        "timestamp": api_time(row[5]),
        "whatsappMessageId": row[6],
        "error": row[7],
        "direction": "outbound",
        "sentBy": sent_by,
        "createdAt": api_time(row[8]),
        "updatedAt": api_time(row[9]),
    }


async def queue_mark_read(
    context: AppContext, session: AsyncSession, conversation_id: uuid.UUID, message_id: uuid.UUID
) -> None:
    """Tell WhatsApp the customer's messages up to `message_id` were read (blue ticks), after the replies."""
    await context.jobs.defer(session, mark_read_jobs(context, [(conversation_id, message_id)]))


async def mark_inbound_read(
    conn: psycopg.AsyncConnection[Any], conversation_id: uuid.UUID, *, up_to: dt.datetime | None = None
) -> list[tuple[uuid.UUID, str | None, dt.datetime]]:
    """Mark the customer's messages of a conversation read in the inbox (all of them, or those up to `up_to`), and
    move the conversation's `updatedAt` when any changed; returns `(id, whatsappMessageId, timestamp)` of those."""
    rows = await (
        await conn.execute(
            "UPDATE messages SET status = 'read', \"updatedAt\" = now()"
            " WHERE \"conversationId\" = %s AND direction = 'inbound' AND status <> 'read'"
            + (' AND "timestamp" <= %s' if up_to is not None else "")
            + ' RETURNING id, "whatsappMessageId", "timestamp"',
            (conversation_id, up_to) if up_to is not None else (conversation_id,),
        )
    ).fetchall()
    if rows:
        # Its unread count changed: a client comparing `updatedAt` must see a newer conversation.
        await conn.execute('UPDATE conversations SET "updatedAt" = now() WHERE id = %s', (conversation_id,))
    return [(r[0], r[1], r[2]) for r in rows]


def mark_read_jobs(context: AppContext, reads: list[tuple[uuid.UUID, uuid.UUID]]) -> list[JobSpec]:
    """Read-receipt jobs for `(conversation id, message id)`; defer them after the replies of the same turn."""
    if not context.settings.mark_read:
        return []
    return [
        JobSpec(MARK_READ, SEND_QUEUE, {"message_id": str(message_id)}, lock=send_lock(conversation_id))
        for conversation_id, message_id in reads
    ]
