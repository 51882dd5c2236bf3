"""FastAPI dependencies shared by every feature's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.core.context import AppContext


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def get_session(context: Annotated[AppContext, Depends(get_context)]) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit once, anything unfinished is rolled back here."""
    async with context.sessions() as session:
        yield session


ContextDep = Annotated[AppContext, Depends(get_context)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
