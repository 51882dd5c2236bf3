from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import Field

from whatsapp_builder.auth import service
from whatsapp_builder.core.deps import SessionDep
from whatsapp_builder.core.errors import NotFound
from whatsapp_builder.core.schemas import CamelInput, CamelModel

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenCreate(CamelInput):
    name: Annotated[str, Field(min_length=1, max_length=100)] = "api"


class TokenOut(CamelModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown only in this response.")


@router.get("", response_model=list[TokenOut])
async def list_tokens(session: SessionDep) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in await service.list_tokens(session)]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(session: SessionDep, body: TokenCreate) -> TokenCreated:
    record, token = await service.create_token(session, body.name)
    await session.commit()
    return TokenCreated(**TokenOut.model_validate(record).model_dump(), token=token)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(session: SessionDep, token_id: uuid.UUID) -> Response:
    if not await service.revoke_token(session, token_id):
        raise NotFound(f"Token {token_id} does not exist or is already revoked.")
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
