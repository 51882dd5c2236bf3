from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from whatsapp_builder.auth import service
from whatsapp_builder.core.cursor import InvalidCursor, decode_time_id_cursor, encode_cursor
from whatsapp_builder.core.deps import ContextDep, SessionDep
from whatsapp_builder.core.errors import NotFound
from whatsapp_builder.core.routing import JsonRoute
from whatsapp_builder.core.schemas import CamelInput, CamelModel, Page
from whatsapp_builder.realtime.server import close_revoked_connections
from whatsapp_builder.users.schemas import Name

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=JsonRoute)


class TokenCreate(CamelInput):
    name: Name = "api"


class TokenOut(CamelModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown only in this response.")


@router.get("", response_model=Page[TokenOut])
async def list_tokens(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Page[TokenOut]:
    """The API tokens, newest first (revoked ones too, with `revokedAt`)."""
    before = None
    if cursor is not None:
        stamp, last_id = decode_time_id_cursor(cursor, scope="tokens")
        if stamp is None:
            raise InvalidCursor("The cursor is not valid; use nextCursor from a previous page.")
        before = (stamp, last_id)
    tokens = await service.list_tokens(session, limit=limit + 1, before=before)
    last = tokens[limit - 1] if len(tokens) > limit else None
    return Page[TokenOut](
        items=[TokenOut.model_validate(t) for t in tokens[:limit]],
        next_cursor=encode_cursor(last.created_at, last.id, scope="tokens") if last is not None else None,
    )


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(session: SessionDep, body: TokenCreate) -> TokenCreated:
    record, token = await service.create_token(session, body.name)
    await session.commit()
    return TokenCreated(**TokenOut.model_validate(record).model_dump(), token=token)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(context: ContextDep, session: SessionDep, token_id: uuid.UUID) -> Response:
    """Revoke a token: the API refuses it from now on, and live Socket.IO connections made with it are closed."""
    if not await service.revoke_token(session, token_id):
        raise NotFound(f"Token {token_id} does not exist or is already revoked.")
    await session.commit()
    await close_revoked_connections(context.publisher)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
