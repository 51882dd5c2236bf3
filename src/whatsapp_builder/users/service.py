from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.conversations.models import Conversation
from whatsapp_builder.core.errors import Conflict, NotFound
from whatsapp_builder.users.models import User
from whatsapp_builder.users.schemas import UserCreate, UserUpdate


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


async def list_users(session: AsyncSession, *, limit: int, after: uuid.UUID | None) -> list[User]:
    query = select(User).order_by(User.id).limit(limit)
    if after is not None:
        query = query.where(User.id > after)
    return list((await session.execute(query)).scalars())


async def _commit_unique(session: AsyncSession, phone: str | None, *, also: Any = None) -> None:
    """Commit (running the statement `also` first, after the flush), a taken phone number as a 409."""
    try:
        if also is not None:
            await session.execute(also)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if getattr(exc.orig, "sqlstate", None) == "23505":
            raise Conflict(f"A user with phone number {phone} already exists.") from exc
        raise


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    user = User(phone_number=data.phone_number, name=data.name, avatar=data.avatar)
    session.add(user)
    await _commit_unique(session, data.phone_number)
    return user


async def update_user(session: AsyncSession, user_id: uuid.UUID, data: UserUpdate) -> tuple[User, bool]:
    """The user, and whether anything changed (a PATCH of the values it has already changes nothing)."""
    user = await get_user(session, user_id)
    # No nulls but avatar's (UserUpdate.not_nullable).
    changes = {f: v for f, v in data.model_dump(exclude_unset=True).items() if getattr(user, f) != v}
    for field, value in changes.items():
        setattr(user, field, value)
    # Their conversations show the customer's name, number and avatar: they changed too (realtime.md's "every
    # change moves updatedAt", which clients rely on to keep the newer copy).
    touch = update(Conversation).where(Conversation.customer_id == user_id).values(updated_at=func.now())
    await _commit_unique(session, user.phone_number, also=touch if changes else None)
    await session.refresh(user)
    return user, bool(changes)


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    user = await get_user(session, user_id)
    # A customer's conversations would go with them (the seed's cascade), with what the business sent there,
    # even before the customer wrote anything (a conversation opened to write first): refuse instead.
    if (await session.execute(select(Conversation.id).where(Conversation.customer_id == user_id).limit(1))).first():
        raise Conflict("The user is a WhatsApp customer with conversations; delete their conversations first.")
    await session.delete(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("The user has sent messages; delete their conversations first.") from exc
