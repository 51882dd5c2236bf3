"""Conversations as the API and the real-time events show them: the customer's name and phone, the unread count
and the window as the clock says now. One query per page, never one per conversation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.conversations.models import Conversation, Message, MessageDirection, MessageStatus
from whatsapp_builder.conversations.schemas import ConversationOut
from whatsapp_builder.conversations.window import is_window_open
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


async def conversation_snapshots(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    wanted = list(set(ids))
    if not wanted:
        return []
    rows = (await session.execute(select(Conversation).where(Conversation.id.in_(wanted)))).scalars().all()
    await enrich(session, rows)
    return [ConversationOut.model_validate(c).model_dump(mode="json", by_alias=True) for c in rows]
