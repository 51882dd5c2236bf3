from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.chatbots.models import Chatbot
from whatsapp_builder.chatbots.schemas import ChatbotCreate, ChatbotSummary, ChatbotUpdate
from whatsapp_builder.core.errors import NotFound


async def get_chatbot(session: AsyncSession, chatbot_id: uuid.UUID) -> Chatbot:
    chatbot = await session.get(Chatbot, chatbot_id)
    if chatbot is None:
        raise NotFound(f"Chatbot {chatbot_id} does not exist.")
    return chatbot


async def list_chatbots(
    session: AsyncSession, *, limit: int, after: tuple[dt.datetime, uuid.UUID] | None
) -> list[ChatbotSummary]:
    query = (
        select(Chatbot, func.jsonb_array_length(Chatbot.nodes))
        .order_by(Chatbot.created_at, Chatbot.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Chatbot.created_at, Chatbot.id) > tuple_(*after))
    rows = await session.execute(query)
    return [
        ChatbotSummary(
            id=c.id,
            name=c.name,
            description=c.description,
            is_active=c.is_active,
            status=c.status,
            node_count=count,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c, count in rows.all()
    ]


async def create_chatbot(session: AsyncSession, data: ChatbotCreate) -> Chatbot:
    chatbot = Chatbot(
        name=data.name,
        description=data.description,
        nodes=data.nodes,
        edges=data.edges,
        is_active=data.is_active,
        status=data.status,
        metadata_=data.metadata,
    )
    session.add(chatbot)
    await session.commit()
    await session.refresh(chatbot)
    return chatbot


async def update_chatbot(session: AsyncSession, chatbot_id: uuid.UUID, data: ChatbotUpdate) -> Chatbot:
    chatbot = await get_chatbot(session, chatbot_id)
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field in {"name", "nodes", "edges", "is_active", "status"}:
            continue
        setattr(chatbot, "metadata_" if field == "metadata" else field, value)
    await session.commit()
    await session.refresh(chatbot)
    return chatbot


async def delete_chatbot(session: AsyncSession, chatbot_id: uuid.UUID) -> None:
    chatbot = await get_chatbot(session, chatbot_id)
    await session.delete(chatbot)
    await session.commit()


async def default_chatbot(session: AsyncSession) -> Chatbot | None:
    """The oldest active chatbot: the seed's `idx_chatbots_active_created` query."""
    result = await session.execute(
        select(Chatbot).where(Chatbot.is_active.is_(True)).order_by(Chatbot.created_at.asc()).limit(1)
    )
    return result.scalar_one_or_none()
