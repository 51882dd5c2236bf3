"""Delivery jobs: one Graph API call per pending message, retried with backoff, failed with a reason."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.conversations.window import is_window_open
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.crypto import SecretKeyMismatch
from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.core.schemas import api_time
from whatsapp_builder.jobs.queue import raw_connection
from whatsapp_builder.logging import get_logger
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.config_service import ActiveConfig
from whatsapp_builder.whatsapp.graph_client import GraphApiError, GraphClient, backoff_delay
from whatsapp_builder.whatsapp.ingest import BSUID_LIMIT, WAMID_LIMIT, no_bsuid, storable
from whatsapp_builder.whatsapp.outbound import (
    OutboundValidationError,
    parse_outbound,
    reaction_target,
    to_graph_payload,
)
from whatsapp_builder.whatsapp.outbox import mark_inbound_read
from whatsapp_builder.whatsapp.parser import StatusUpdate
from whatsapp_builder.whatsapp.rate_limit import take_send_slot
from whatsapp_builder.whatsapp.statuses import lock_wamids

log = get_logger(__name__)


def number_not_connected_error(number: str) -> dict[str, Any]:
    """Why a message of a conversation on another business number than the connected one is not sent: it must
    go out from the number the customer wrote to, and only the connected one can send."""
    return {
        "code": "number_not_connected",
        "title": f"The conversation is on WhatsApp number {number}, which is not the connected one",
        "source": "local",
    }


# A process with another WAB_SECRET_KEY than the config's cannot send: its jobs wait for one that can (another
# worker, or this one restarted with the right key), every half minute for an hour, then fail.
KEY_MISMATCH_RETRY_SECONDS = 30.0
KEY_MISMATCH_ATTEMPTS = 120
KEY_MISMATCH_ERROR = {
    "code": "secret_key_mismatch",
    "title": "The process that took this send has another WAB_SECRET_KEY than the one the WhatsApp config was"
    " saved with",
    "source": "local",
}


async def readable_config(context: AppContext, attempt: int) -> ActiveConfig | None:
    """The active config; RetryLater while another process may still read it when this one cannot."""
    try:
        return await context.active_config.get()
    except SecretKeyMismatch as exc:
        if attempt + 1 >= KEY_MISMATCH_ATTEMPTS:
            raise
        raise RetryLater(KEY_MISMATCH_RETRY_SECONDS, KEY_MISMATCH_ERROR) from exc


WINDOW_CLOSED_ERROR = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "More than 24 hours have passed since the customer last replied; only a template can be sent.",
    "details": None,
    "source": "local",
}


# A column for queries over outbound messages `m`: the WhatsApp id of the message a reaction answers, when the
# reaction names it by our id (a UUID of a message in the same conversation); NULL otherwise.
REACTED_WAMID_SQL = (
    "CASE WHEN m.type = 'reaction' AND m.content->>'messageId'"
    " ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
    ' THEN (SELECT r."whatsappMessageId" FROM messages r'
    ' WHERE r.id = (m.content->>\'messageId\')::uuid AND r."conversationId" = m."conversationId") END'
)


class CannotSend(Exception):
    """A stored message that cannot be sent as it is; `error` is what the failed message keeps."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("title")))
        self.error = error


def graph_payload(
    message_type: str, content: Any, *, phone: str | None, bsuid: str | None, reacted_wamid: str | None
) -> dict[str, Any]:
    """The Graph API body for a stored outbound message (``reacted_wamid`` from `REACTED_WAMID_SQL`)."""
    try:
        outbound = parse_outbound({"type": message_type, "content": content})
    except OutboundValidationError as exc:
        raise CannotSend(
            {"code": 131009, "title": "Invalid message", "details": exc.details, "source": "local"}
        ) from exc
    if reaction_target(outbound) is not None and reacted_wamid is None:
        raise CannotSend(
            {
                "code": 131009,
                "title": "The message reacted to has no WhatsApp id",
                "details": "content.messageId must be a message of this conversation that WhatsApp has accepted",
                "source": "local",
            }
        )
    return to_graph_payload(
        outbound,
        to=phone.lstrip("+") if phone else None,
        recipient=None if phone else bsuid,
        reaction_to=reacted_wamid,
    )


class RetryLater(Exception):
    """A temporary failure: the job is tried again after `delay` seconds."""

    def __init__(self, delay: float, error: dict[str, Any]) -> None:
        super().__init__(f"retry in {delay:.1f}s: {error}")
        self.delay = delay
        self.error = error


def graph_client_for(context: AppContext, graph_api_url: str | None) -> GraphClient:
    if graph_api_url is None:
        return context.graph
    return GraphClient(context.graph_http, graph_api_url, context.settings.graph_api_version)


def error_dict(exc: GraphApiError) -> dict[str, Any]:
    """What a failed send stores and shows: `title` is for people; `type` is Meta's (``OAuthException``) or
    our own kind of transport failure (``timeout``, ``network``...); `fbtraceId` is what Meta's support asks for."""
    return {
        "code": exc.code,
        "title": exc.title,
        "message": exc.message,
        "details": exc.details,
        "type": exc.type,
        "fbtraceId": exc.fbtrace_id,
        "httpStatus": exc.http_status,
        "source": "whatsapp",
    }


async def _finish(
    context: AppContext,
    message_id: uuid.UUID,
    *,
    status: str,
    wamid: str | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Record the outcome of a send (only if the message is still pending) and apply early statuses."""
    async with _transaction(context) as (session, published):
        conn = await raw_connection(session)
        if wamid is not None:
            # Serialises with a status webhook for the same id (whatsapp/ingest.py): whichever commits second
            # sees the other's row, so an early status can never be stranded in the backlog.
            await lock_wamids(conn, [wamid])
        row = await (
            await conn.execute(
                'UPDATE messages SET status = %s::message_status, "whatsappMessageId" = coalesce(%s, "whatsappMessageId"),'
                " error = %s, \"updatedAt\" = now() WHERE id = %s AND status = 'pending'"
                ' RETURNING "conversationId", status::text, "whatsappMessageId", error',
                (status, wamid, Jsonb(error) if error else None, message_id),
            )
        ).fetchone()
        if row is not None and wamid is not None:
            early = await (
                await conn.execute(
                    'DELETE FROM whatsapp_status_backlog WHERE "whatsappMessageId" = %s RETURNING status::text, error',
                    (wamid,),
                )
            ).fetchone()
            if early is not None:
                moved = await (
                    await conn.execute(
                        "UPDATE messages SET status = %s::message_status, error = coalesce(%s, error),"
                        ' "updatedAt" = now() WHERE id = %s AND status_rank(%s) > status_rank(status::text)'
                        ' RETURNING "conversationId", status::text, "whatsappMessageId", error',
                        (early[0], Jsonb(early[1]) if early[1] else None, message_id, early[0]),
                    )
                ).fetchone()
                row = moved or row
        if row is not None:
            published.append(events.message_status(str(message_id), str(row[0]), row[1], row[2], row[3]))


@asynccontextmanager
async def _transaction(context: AppContext) -> AsyncIterator[tuple[AsyncSession, list[Any]]]:
    """A transaction and the events to publish once it commits."""
    published: list[Any] = []
    async with context.sessions() as session:
        yield session, published
        await session.commit()
    if published:
        await context.publisher.publish(published)


# A customer known by phone number only (one an operator wrote to first, or from before BSUIDs) learns the BSUID
# WhatsApp gave when accepting a send to them, unless another user has it: their answer, which may come with the
# BSUID only, then finds them (whatsapp/ingest.py identifies customers by BSUID first).
_LEARN_BSUID = (
    'UPDATE users u SET bsuid = x.bsuid, "updatedAt" = now()'
    " FROM (SELECT DISTINCT ON ((r->>0)::uuid) (r->>0)::uuid, r->>1 FROM jsonb_array_elements(%s::jsonb) AS j(r))"
    " AS x(conversation, bsuid) JOIN conversations c ON c.id = x.conversation"
    f' WHERE u.id = c."customerId" AND {no_bsuid("u")}'
    " AND NOT EXISTS (SELECT 1 FROM users b WHERE b.bsuid = x.bsuid)"
)


# A status names the recipient by phone number (`recipient_id`) and, since 2026, by BSUID (`recipient_user_id`):
# the customer the message went to. Only for a customer without a BSUID yet, whose number is the status's (when it
# gives one), and a BSUID no other user has.
_LEARN_FROM_STATUSES = (
    "WITH learned AS ("
    'UPDATE users u SET bsuid = x.bsuid, "updatedAt" = now()'
    ' FROM (SELECT DISTINCT ON (c."customerId") c."customerId", r->>1, r->>2'
    " FROM jsonb_array_elements(%s::jsonb) AS j(r)"
    " JOIN messages m ON m.\"whatsappMessageId\" = r->>0 AND m.direction = 'outbound'"
    ' JOIN conversations c ON c.id = m."conversationId") AS x(customer, bsuid, phone)'
    f" WHERE u.id = x.customer AND {no_bsuid('u')} AND (x.phone IS NULL OR u.\"phoneNumber\" = '+' || x.phone)"
    " AND NOT EXISTS (SELECT 1 FROM users b WHERE b.bsuid = x.bsuid)"
    " RETURNING u.bsuid)"
    # The BSUIDs a user has now: statuses naming them have nothing left to teach (see KnownBsuids).
    " SELECT bsuid FROM learned UNION SELECT bsuid FROM users WHERE bsuid = ANY(%s)"
)


async def learn_bsuids_from_statuses(context: AppContext, statuses: Sequence[StatusUpdate]) -> None:
    """Link a customer the business wrote to by phone number to the BSUID its messages' statuses name, so that
    their answer without a phone number (a username user) lands in the same conversation. After the commit, on
    its own, like `learn_bsuids`. Statuses naming a BSUID that a user already has are skipped: every message
    gets three or more statuses, and once one of them was looked at, the others have nothing to teach."""
    known = context.known_bsuids
    pairs = {
        (s.wa_message_id, s.recipient_user_id, s.recipient_id if s.recipient_id and s.recipient_id.isdigit() else None)
        for s in statuses
        if s.recipient_user_id
        and len(s.recipient_user_id) <= BSUID_LIMIT
        and len(s.wa_message_id) <= WAMID_LIMIT
        and s.recipient_user_id not in known
    }
    if not pairs:
        return
    try:
        async with context.autocommit() as conn:
            rows = await (
                await conn.execute(
                    _LEARN_FROM_STATUSES, (json_rows(sorted(pairs, key=str)), sorted({p[1] for p in pairs}))
                )
            ).fetchall()
    except psycopg.Error as exc:
        log.info("a customer's BSUID was not learned from a status", error=str(exc))
        return
    known.add_all(str(row[0]) for row in rows)


async def learn_bsuids(context: AppContext, learned: list[tuple[uuid.UUID, str]]) -> None:
    """Give customers known only by phone number the BSUID a send's answer named (conversation, BSUID pairs).

    After the commit, on its own: a failure here (another user took the BSUID meanwhile) must not undo the
    record of messages already sent, which would have them sent again."""
    try:
        async with context.autocommit() as conn:
            await conn.execute(_LEARN_BSUID, (json_rows(learned),))
    except psycopg.Error as exc:
        log.info("a customer's BSUID was not learned", error=str(exc))


async def deliver_message(context: AppContext, message_id: uuid.UUID, attempt: int) -> None:
    """Send one pending message. Raises RetryLater for temporary failures while attempts remain."""
    async with context.sessions() as session:
        conn = await raw_connection(session)
        row = await (
            await conn.execute(
                'SELECT m.type::text, m.content, m.status::text, c."lastCustomerMessageAt", u."phoneNumber", u.bsuid,'
                ' m."conversationId", c."whatsappPhoneNumberId",'
                f" {REACTED_WAMID_SQL}"
                ' FROM messages m JOIN conversations c ON c.id = m."conversationId"'
                ' LEFT JOIN users u ON u.id = c."customerId" WHERE m.id = %s',
                (message_id,),
            )
        ).fetchone()
    if row is None or row[2] != "pending":
        return  # deleted, or already done by an earlier run of this job
    message_type, content, _, last_customer_at, phone, bsuid, conversation_id, number, reacted_wamid = row

    async def fail(error: dict[str, Any]) -> None:
        await _finish(context, message_id, status="failed", error=error)

    if phone is None and bsuid is None:
        await fail({"code": "no_recipient", "title": "The conversation has no WhatsApp customer", "source": "local"})
        return
    if message_type != "template" and not is_window_open(last_customer_at):
        await fail(WINDOW_CLOSED_ERROR)
        return
    try:
        config = await readable_config(context, attempt)
    except SecretKeyMismatch:
        await fail(KEY_MISMATCH_ERROR)
        return
    if config is None:
        await fail({"code": "not_configured", "title": "No active WhatsApp config", "source": "local"})
        return
    if number not in (None, config.phone_number_id):
        await fail(number_not_connected_error(number))
        return
    try:
        payload = graph_payload(message_type, content, phone=phone, bsuid=bsuid, reacted_wamid=reacted_wamid)
    except CannotSend as exc:
        await fail(exc.error)
        return
    await take_send_slot(
        context.engine, config.phone_number_id, config.send_rate(context.settings.send_rate_per_second)
    )
    client = graph_client_for(context, config.graph_api_url)
    try:
        sent = await client.send(config.phone_number_id, config.access_token, payload)
    except GraphApiError as exc:
        error = error_dict(exc)
        if exc.config_problem:
            await flag_config(context, error)
        if exc.retryable and attempt + 1 < context.settings.send_max_attempts:
            delay = backoff_delay(attempt + 1, exc, base=context.settings.send_retry_base_seconds, rng=random.Random())
            log.info(
                "send will be retried",
                message_id=str(message_id),
                attempt=attempt + 1,
                delay=delay,
                code=exc.code,
                http_status=exc.http_status,
            )
            raise RetryLater(delay, error) from exc
        log.warning("send failed", message_id=str(message_id), code=exc.code, title=exc.title)
        await fail(error)
        return
    await _finish(context, message_id, status="sent", wamid=sent.wamid)
    if config.has_error:
        await clear_config_error(context)
    if bsuid is None and sent.recipient_user_id is not None and len(sent.recipient_user_id) <= BSUID_LIMIT:
        await learn_bsuids(context, [(conversation_id, storable(sent.recipient_user_id))])


async def flag_config(context: AppContext, error: dict[str, Any]) -> None:
    async with context.sessions() as session:
        conn = await raw_connection(session)
        await conn.execute(
            'UPDATE whatsapp_config SET "lastError" = %s WHERE "isActive"',
            (Jsonb(error | {"at": api_time(dt.datetime.now(dt.UTC))}),),
        )
        await session.commit()
    context.active_config.invalidate()


async def clear_config_error(context: AppContext) -> None:
    """WhatsApp accepted a send, so the credentials work again: the settings page stops showing the old error."""
    async with context.sessions() as session:
        conn = await raw_connection(session)
        await conn.execute('UPDATE whatsapp_config SET "lastError" = NULL WHERE "isActive" AND "lastError" IS NOT NULL')
        await session.commit()
    context.active_config.invalidate()


async def mark_read(context: AppContext, message_id: uuid.UUID, attempt: int = 0) -> None:
    """Mark a customer's message (and those before it) read on WhatsApp and in the inbox."""
    async with context.sessions() as session:
        conn = await raw_connection(session)
        row = await (
            await conn.execute(
                'SELECT m."conversationId", m."whatsappMessageId", m."timestamp", c."whatsappPhoneNumberId"'
                ' FROM messages m JOIN conversations c ON c.id = m."conversationId"'
                " WHERE m.id = %s AND m.direction = 'inbound'",
                (message_id,),
            )
        ).fetchone()
    if row is None or row[1] is None:
        return
    conversation_id, wamid, stamp, number = row
    try:
        config = await readable_config(context, attempt)
    except SecretKeyMismatch:
        config = None  # given up on WhatsApp's blue ticks: the inbox still counts the messages read
    if config is not None and number in (None, config.phone_number_id):
        try:
            await graph_client_for(context, config.graph_api_url).mark_as_read(
                config.phone_number_id, config.access_token, wamid
            )
        except GraphApiError as exc:
            log.info("mark as read failed", message_id=str(message_id), code=exc.code)
    async with _transaction(context) as (session, published):
        conn = await raw_connection(session)
        rows = await mark_inbound_read(conn, conversation_id, up_to=stamp)
        published.extend(events.message_status(str(r[0]), str(conversation_id), "read", r[1], None) for r in rows)
        if rows and context.live():
            # The unread count changed.
            published.extend(
                events.conversation_updated(c) for c in await conversation_snapshots(session, [conversation_id])
            )
