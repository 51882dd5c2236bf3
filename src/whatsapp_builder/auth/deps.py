"""Every /api request needs a valid, unrevoked bearer token, checked before anything else looks at the request.

`ApiAuthentication` (an ASGI middleware, installed by the app factory) checks the token of every /api request
before the framework reads or parses its body, so a request without a valid token is a 401 whatever its body
holds (malformed JSON included). It keeps the token it found on the request; `require_token`, the dependency
every /api route carries, takes it from there, so a token is looked up once per request.
"""

from __future__ import annotations

from typing import Annotated

import psycopg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Receive, Scope, Send

from whatsapp_builder.auth.models import ApiToken
from whatsapp_builder.auth.service import find_valid_token
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.deps import ContextDep
from whatsapp_builder.core.errors import Unauthorized, database_error_response, error_response

API_PREFIX = "/api"
TOKEN_STATE_KEY = "api_token"
"""Where `ApiAuthentication` keeps the request's `ApiToken` (``request.state.api_token``)."""


async def authenticate(context: AppContext, authorization: str) -> ApiToken:
    """The valid token an ``Authorization`` header carries; raises `Unauthorized` otherwise."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>' (whatsapp-builder token create).")
    async with context.sessions() as session:
        record = await find_valid_token(session, token.strip())
        await session.commit()
    if record is None:
        raise Unauthorized("The API token is not valid or has been revoked.")
    return record


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class ApiAuthentication:
    """Answers 401 to an /api request without a valid token, before its body is read, parsed or validated."""

    def __init__(self, app: ASGIApp, context: AppContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            record = await authenticate(self.context, authorization)
        except Unauthorized as exc:
            response = error_response(exc.status_code, exc.code, exc.message)
        except (DBAPIError, PoolTimeout, psycopg.Error) as exc:
            response = database_error_response(exc)
        else:
            scope.setdefault("state", {})[TOKEN_STATE_KEY] = record
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    bearerFormat="wab_…",
    description="An API token from `whatsapp-builder token create` or the Settings page.",
)
"""Declares the scheme in the OpenAPI document (the Authorize button of /docs); the check itself is above."""


async def require_token(
    request: Request,
    context: ContextDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> ApiToken:
    record: ApiToken | None = getattr(request.state, TOKEN_STATE_KEY, None)
    if record is None:
        # Only when the app runs without `ApiAuthentication`: check here, as that middleware would have.
        record = await authenticate(context, request.headers.get("authorization", ""))
    return record


TokenDep = Annotated[ApiToken, Depends(require_token)]
