"""Conversations as the API and the real-time events show them: the customer's name and phone, the unread count
and the window as the clock says now. One query per page, never one per conversation."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.conversations.models import Conversation, Message, MessageDirection, MessageStatus
from whatsapp_builder.conversations.window import is_window_open
from whatsapp_builder.core.schemas import api_time
from whatsapp_builder.jobs.queue import raw_connection
from whatsapp_builder.users.models import User


async def enrich(session: AsyncSession, conversations: Sequence[Conversation]) -> Sequence[Conversation]:
    """Set customer_name, customer_phone and unread_count on `conversations` (not stored columns)."""
    if not conversations:
        return conversations
    unread = (
        select(func.count())
        .where(
            Message.conversation_id == Conversation.id,
            Message.direction == MessageDirection.INBOUND,
            Message.status != MessageStatus.READ,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Conversation.id, User.name, User.phone_number, unread)
        .select_from(Conversation)
        .outerjoin(User, and_(User.id == Conversation.customer_id))
        .where(Conversation.id.in_([c.id for c in conversations]))
    )
    extra = {row[0]: row[1:] for row in rows.all()}
    for conversation in conversations:
        name, phone, count = extra.get(conversation.id, (None, None, 0))
        conversation.customer_name = name  # type: ignore[attr-defined]
        conversation.customer_phone = phone  # type: ignore[attr-defined]
        conversation.unread_count = count  # type: ignore[attr-defined]
        conversation.is_window_open = is_window_open(conversation.last_customer_message_at)
    return conversations


_SNAPSHOTS = (
    'SELECT c.id, c."lastMessage", c."lastMessageAt", c."lastCustomerMessageAt", c."isHandedOff", c."customerId",'
    ' c."whatsappPhoneNumberId", c."createdAt", c."updatedAt", u.name, u."phoneNumber",'
    " (SELECT count(*) FROM messages m WHERE m.\"conversationId\" = c.id AND m.direction = 'inbound'"
    " AND m.status <> 'read')"
    ' FROM conversations c LEFT JOIN users u ON u.id = c."customerId" WHERE c.id = ANY(%s)'
)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else api_time(value)


async def conversation_snapshots(
    session: AsyncSession | psycopg.AsyncConnection[Any], ids: Iterable[uuid.UUID]
) -> list[dict[str, Any]]:
    """Conversations as `GET /api/conversations` shows them, for real-time events: one query, no ORM."""
    wanted = list(set(ids))
    if not wanted:
        return []
    raw = await raw_connection(session)
    rows = await (await raw.execute(_SNAPSHOTS, (wanted,))).fetchall()
    return [
        {
            "id": str(r[0]),
            "lastMessage": r[1],
            "lastMessageAt": _iso(r[2]),
            "lastCustomerMessageAt": _iso(r[3]),
            "isWindowOpen": is_window_open(r[3]),
            "isHandedOff": r[4],
            "customerId": None if r[5] is None else str(r[5]),
            "whatsappPhoneNumberId": r[6],
            "customerName": r[9],
            "customerPhone": r[10],
            "unreadCount": r[11],
            "createdAt": _iso(r[7]),
            "updatedAt": _iso(r[8]),
        }
        for r in rows
    ]
