from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from whatsapp_builder.conversations.models import Conversation
from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.cursor import decode_time_id_cursor, encode_cursor
from whatsapp_builder.core.deps import ContextDep, SessionDep
from whatsapp_builder.core.errors import Responses, documented
from whatsapp_builder.core.routing import JsonRoute
from whatsapp_builder.core.schemas import Page
from whatsapp_builder.realtime import events
from whatsapp_builder.users import service
from whatsapp_builder.users.schemas import UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/users", tags=["users"], route_class=JsonRoute)
USERS_SCOPE = "users"
_PHONE_TAKEN: Responses = {409: documented("Another user has this phone number (`conflict`)")}


@router.get("", response_model=Page[UserOut], response_model_by_alias=True)
async def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Page[UserOut]:
    # Ordered by id (the primary key's index: any page costs the same); the cursor is opaque and bound to this
    # list, like every other list's, so a user id or another list's cursor is refused rather than read.
    after = decode_time_id_cursor(cursor, scope=USERS_SCOPE)[1] if cursor is not None else None
    users = await service.list_users(session, limit=limit + 1, after=after)
    next_cursor = encode_cursor(None, users[limit - 1].id, scope=USERS_SCOPE) if len(users) > limit else None
    return Page[UserOut](items=[UserOut.model_validate(u) for u in users[:limit]], next_cursor=next_cursor)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=_PHONE_TAKEN)
async def create_user(session: SessionDep, body: UserCreate) -> UserOut:
    return UserOut.model_validate(await service.create_user(session, body))


@router.get("/{user_id}", response_model=UserOut)
async def get_user(session: SessionDep, user_id: uuid.UUID) -> UserOut:
    return UserOut.model_validate(await service.get_user(session, user_id))


@router.patch("/{user_id}", response_model=UserOut, responses=_PHONE_TAKEN)
async def update_user(context: ContextDep, session: SessionDep, user_id: uuid.UUID, body: UserUpdate) -> UserOut:
    updated, changed = await service.update_user(session, user_id, body)
    user = UserOut.model_validate(updated)
    if changed and context.live():
        # The inbox shows a customer's name and number on their conversations: it hears of the change.
        ids = (await session.execute(select(Conversation.id).where(Conversation.customer_id == user_id))).scalars()
        snapshots = await conversation_snapshots(session, list(ids))
        await context.publisher.publish([events.conversation_updated(c) for c in snapshots])
    return user


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: documented("The user has conversations or sent messages: delete those first (`conflict`)")},
)
async def delete_user(session: SessionDep, user_id: uuid.UUID) -> Response:
    await service.delete_user(session, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
