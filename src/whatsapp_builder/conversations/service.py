"""Conversations and their messages: the seed's query patterns, each on its index.

- inbox: `ORDER BY COALESCE("lastMessageAt", "createdAt") DESC, id DESC` on ix_conversations_activity, by keyset;
- one conversation with its participants: two queries in all (selectinload), never one per participant;
- messages: keyset pages on (timestamp, id) over idx_messages_conversationId_timestamp, never OFFSET.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import DateTime, and_, delete, exists, func, insert, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from whatsapp_builder.conversations.models import (
    Conversation,
    ConversationContext,
    Message,
    MessageDirection,
    MessageStatus,
    conversation_participants,
)
from whatsapp_builder.conversations.snapshots import enrich
from whatsapp_builder.core.cursor import InvalidCursor
from whatsapp_builder.core.errors import NotFound, Unprocessable
from whatsapp_builder.users.models import User

TimeKey = tuple[dt.datetime | None, uuid.UUID]


_PHONE_LIKE = re.compile(r"[+\d\s().\-]+")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matching_customers(search: str) -> Any:
    pattern = _like(search)
    # Username users (no phone number): by their username, or their WhatsApp user id (BSUID) given whole.
    conditions = [
        User.name.ilike(pattern),
        User.phone_number.like(pattern),
        User.username.ilike(_like(search.strip().lstrip("@"))),  # as the inbox shows it: @name
        User.bsuid == search.strip(),
    ]
    digits = "".join(ch for ch in search if ch.isdigit())
    if _PHONE_LIKE.fullmatch(search.strip()) and len(digits) >= 3:
        # A number as people write it ("+1 555-010-0002", "(555) 010"): numbers are stored as digits after "+".
        conditions.append(User.phone_number.like(_like(digits)))
    return select(User.id).where(or_(*conditions))


def _unread() -> Any:
    """The conversation has a customer message no one has read (as ix_messages_unread indexes them)."""
    return exists().where(
        Message.conversation_id == Conversation.id,
        Message.direction == MessageDirection.INBOUND,
        Message.status != MessageStatus.READ,
    )


def activity_time(conversation: Conversation) -> dt.datetime:
    """When a conversation was last active, as the inbox orders it: its last message's time, or, before its first
    message, when it was made (a conversation an operator has just opened goes first, not last)."""
    return conversation.last_message_at or conversation.created_at


# The inbox's sort key, as ix_conversations_activity indexes it (migration 0026).
_ACTIVITY = func.coalesce(Conversation.last_message_at, Conversation.created_at)


async def list_conversations(
    session: AsyncSession,
    *,
    limit: int,
    after: TimeKey | None,
    search: str | None = None,
    unread: bool = False,
    handed_off: bool = False,
) -> list[Conversation]:
    """Newest activity first (`activity_time`), then by id, keyset-paged after `after` (the previous page's last
    row's activity time and id): one index scan of ix_conversations_activity, whatever the page."""
    query = select(Conversation).order_by(_ACTIVITY.desc(), Conversation.id.desc()).limit(limit)
    if search:
        query = query.where(Conversation.customer_id.in_(_matching_customers(search)))
    if unread:
        query = query.where(_unread())
    if handed_off:
        query = query.where(Conversation.is_handed_off.is_(True))
    if after is not None:
        after_stamp, after_id = after
        if after_stamp is None:
            # A cursor made before migration 0026, in the list's tail of conversations without a message: it goes
            # on after that conversation, where it now is.
            after_stamp = await session.scalar(select(_ACTIVITY).where(Conversation.id == after_id))
            if after_stamp is None:
                raise InvalidCursor("The cursor is not valid for this list; use nextCursor from its previous page.")
        query = query.where(
            tuple_(_ACTIVITY, Conversation.id)
            < tuple_(literal(after_stamp, DateTime(timezone=True)), literal(after_id, UUID(as_uuid=True)))
        )
    fetched = list((await session.execute(query)).scalars())
    await enrich(session, fetched)
    session.expunge_all()
    return fetched


async def get_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    # Whether GET …/context has anything to answer, asked in the same query: the inbox asks for the context only
    # then (a 404 it expects is still an error in the browser's console).
    ran = exists().where(ConversationContext.conversation_id == Conversation.id)
    result = await session.execute(
        select(Conversation, ran)
        .where(Conversation.id == conversation_id)
        .options(selectinload(Conversation.participants))
    )
    row = result.first()
    if row is None:
        raise NotFound(f"Conversation {conversation_id} does not exist.")
    conversation, has_bot_context = row
    conversation.has_bot_context = bool(has_bot_context)  # type: ignore[attr-defined]
    await enrich(session, [conversation])
    return conversation


async def create_conversation(session: AsyncSession, participant_ids: list[uuid.UUID]) -> Conversation:
    unique_ids = list(dict.fromkeys(participant_ids))
    found = set((await session.execute(select(User.id).where(User.id.in_(unique_ids)))).scalars())
    missing = [str(uid) for uid in unique_ids if uid not in found]
    if missing:
        raise Unprocessable(
            "Some participants do not exist.",
            details=[{"field": "participantIds", "message": f"unknown user {uid}"} for uid in missing],
        )
    conversation = Conversation()
    session.add(conversation)
    await session.flush()
    await session.execute(
        insert(conversation_participants),
        [{"conversationId": conversation.id, "userId": uid} for uid in unique_ids],
    )
    await session.commit()
    return await get_conversation(session, conversation.id)


async def delete_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """Deleting a conversation cascades to its messages, participants and contexts (the seed's foreign keys)."""
    result = await session.execute(
        delete(Conversation).where(Conversation.id == conversation_id).returning(Conversation.id)
    )
    if result.first() is None:
        raise NotFound(f"Conversation {conversation_id} does not exist.")
    await session.commit()


async def ensure_conversation_exists(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    found = await session.execute(select(Conversation.id).where(Conversation.id == conversation_id))
    if found.first() is None:
        raise NotFound(f"Conversation {conversation_id} does not exist.")


async def list_messages(
    session: AsyncSession, conversation_id: uuid.UUID, *, limit: int, before: TimeKey | None
) -> list[Message]:
    """Newest first; `before` is the (timestamp, id) of the last message of the previous page."""
    await ensure_conversation_exists(session, conversation_id)
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.timestamp.desc(), Message.id.desc())
        .limit(limit)
    )
    if before is not None and before[0] is not None:
        stamp, last_id = before
        # Written so the index condition is a plain range on "timestamp"; the id only breaks ties.
        query = query.where(Message.timestamp <= stamp, or_(Message.timestamp < stamp, and_(Message.id < last_id)))
    return list((await session.execute(query)).scalars())


async def list_messages_after(
    session: AsyncSession, conversation_id: uuid.UUID, *, after: uuid.UUID, limit: int
) -> list[Message] | None:
    """For a client catching up: the messages of this conversation stored after the message `after`, in the
    order they were stored (`createdAt`, then id), not by WhatsApp's `timestamp`. A customer's timestamp has
    whole seconds and a late delivery an old one, so by timestamp a tap stored after the bot's reply (within
    the same second) or a message Meta retried would sort before the newest message the client had, and be
    missed. None when `after` is not a message of this conversation."""
    await ensure_conversation_exists(session, conversation_id)
    seen = (
        await session.execute(
            select(Message.created_at).where(Message.id == after, Message.conversation_id == conversation_id)
        )
    ).scalar_one_or_none()
    if seen is None:
        return None
    query = (
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.created_at >= seen,
            or_(Message.created_at > seen, Message.id > after),
        )
        .order_by(Message.created_at, Message.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def latest_context(session: AsyncSession, conversation_id: uuid.UUID) -> ConversationContext | None:
    """The active context, else the one that ended last (to show why the bot stopped)."""
    context = await active_context(session, conversation_id)
    if context is not None:
        return context
    result = await session.execute(
        select(ConversationContext)
        .where(ConversationContext.conversation_id == conversation_id)
        # One context ends as another starts in the same transaction (a timeout, then a hand-off keyword): both
        # have its time; the one started then is the newer.
        .order_by(
            ConversationContext.updated_at.desc(), ConversationContext.created_at.desc(), ConversationContext.id.desc()
        )
        .limit(1)
    )
    return result.scalar_one_or_none()


async def active_context(session: AsyncSession, conversation_id: uuid.UUID) -> ConversationContext | None:
    """The seed's query pattern 1, on idx_conversation_context_conversation_active."""
    result = await session.execute(
        select(ConversationContext)
        .where(ConversationContext.conversation_id == conversation_id, ConversationContext.is_active.is_(True))
        .order_by(ConversationContext.created_at.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()
