"""Conversations as the API and the real-time events show them, read in one query for many ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.conversations.models import Conversation
from whatsapp_builder.conversations.schemas import ConversationOut
from whatsapp_builder.conversations.window import is_window_open


async def conversation_snapshots(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    wanted = list(set(ids))
    if not wanted:
        return []
    rows = (await session.execute(select(Conversation).where(Conversation.id.in_(wanted)))).scalars().all()
    snapshots = []
    for conversation in rows:
        conversation.is_window_open = is_window_open(conversation.last_customer_message_at)
        snapshots.append(ConversationOut.model_validate(conversation).model_dump(mode="json", by_alias=True))
    return snapshots
