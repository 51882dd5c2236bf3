from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from whatsapp_builder.conversations import service
from whatsapp_builder.conversations.schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    MessageOut,
)
from whatsapp_builder.core.cursor import decode_time_id_cursor, encode_cursor
from whatsapp_builder.core.deps import SessionDep
from whatsapp_builder.core.schemas import Page

router = APIRouter(prefix="/conversations", tags=["conversations"])

Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("", response_model=Page[ConversationOut])
async def list_conversations(
    session: SessionDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Page[ConversationOut]:
    after = decode_time_id_cursor(cursor) if cursor else None
    rows = await service.list_conversations(session, limit=limit + 1, after=after)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.last_message_at, last.id)
    return Page[ConversationOut](
        items=[ConversationOut.model_validate(c) for c in rows[:limit]], next_cursor=next_cursor
    )


@router.post("", response_model=ConversationDetail, status_code=status.HTTP_201_CREATED)
async def create_conversation(session: SessionDep, body: ConversationCreate) -> ConversationDetail:
    return ConversationDetail.model_validate(await service.create_conversation(session, body.participant_ids))


@router.get("/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(session: SessionDep, conversation_id: uuid.UUID) -> ConversationDetail:
    return ConversationDetail.model_validate(await service.get_conversation(session, conversation_id))


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(session: SessionDep, conversation_id: uuid.UUID) -> Response:
    await service.delete_conversation(session, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=Page[MessageOut])
async def list_messages(
    session: SessionDep,
    conversation_id: uuid.UUID,
    limit: Limit = 50,
    before: Annotated[
        str | None, Query(description="nextCursor of the previous page: messages older than it")
    ] = None,
) -> Page[MessageOut]:
    before_key = decode_time_id_cursor(before) if before else None
    rows = await service.list_messages(session, conversation_id, limit=limit + 1, before=before_key)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.timestamp, last.id)
    return Page[MessageOut](
        items=[MessageOut.model_validate(m) for m in rows[:limit]], next_cursor=next_cursor
    )
