from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from whatsapp_builder.chatbots import service
from whatsapp_builder.chatbots.schemas import ChatbotCreate, ChatbotOut, ChatbotSummary, ChatbotUpdate
from whatsapp_builder.core.cursor import InvalidCursor, decode_time_id_cursor, encode_cursor
from whatsapp_builder.core.deps import SessionDep
from whatsapp_builder.core.schemas import Page

router = APIRouter(prefix="/chatbots", tags=["chatbots"])


@router.get("", response_model=Page[ChatbotSummary])
async def list_chatbots(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Page[ChatbotSummary]:
    after = None
    if cursor is not None:
        stamp, last_id = decode_time_id_cursor(cursor)
        if stamp is None:
            raise InvalidCursor("The cursor is not valid; use nextCursor from a previous page.")
        after = (stamp, last_id)
    rows = await service.list_chatbots(session, limit=limit + 1, after=after)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return Page[ChatbotSummary](items=rows[:limit], next_cursor=next_cursor)


@router.post("", response_model=ChatbotOut, status_code=status.HTTP_201_CREATED)
async def create_chatbot(session: SessionDep, body: ChatbotCreate) -> ChatbotOut:
    return ChatbotOut.model_validate(await service.create_chatbot(session, body))


@router.get("/{chatbot_id}", response_model=ChatbotOut)
async def get_chatbot(session: SessionDep, chatbot_id: uuid.UUID) -> ChatbotOut:
    return ChatbotOut.model_validate(await service.get_chatbot(session, chatbot_id))


@router.patch("/{chatbot_id}", response_model=ChatbotOut)
async def update_chatbot(session: SessionDep, chatbot_id: uuid.UUID, body: ChatbotUpdate) -> ChatbotOut:
    return ChatbotOut.model_validate(await service.update_chatbot(session, chatbot_id, body))


@router.delete("/{chatbot_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_chatbot(session: SessionDep, chatbot_id: uuid.UUID) -> Response:
    await service.delete_chatbot(session, chatbot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
