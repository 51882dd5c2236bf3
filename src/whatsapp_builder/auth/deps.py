"""The dependency every /api route carries: a valid, unrevoked bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from whatsapp_builder.auth.models import ApiToken
from whatsapp_builder.auth.service import find_valid_token
from whatsapp_builder.core.deps import ContextDep
from whatsapp_builder.core.errors import Unauthorized


async def require_token(request: Request, context: ContextDep) -> ApiToken:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>' (whatsapp-builder token create).")
    async with context.sessions() as session:
        record = await find_valid_token(session, token.strip())
    if record is None:
        raise Unauthorized("The API token is not valid or has been revoked.")
    return record


TokenDep = Annotated[ApiToken, Depends(require_token)]
