"""`GET/POST /webhooks/whatsapp`: Meta's verification handshake and signed event deliveries.

A POST is verified against the raw bytes before anything is parsed, stored in one transaction, and only then
acknowledged: a 200 means the delivery is durable, anything else makes Meta deliver it again.
"""

from __future__ import annotations

import json
from typing import Annotated

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from whatsapp_builder.core.batching import ShuttingDown
from whatsapp_builder.core.deps import ContextDep
from whatsapp_builder.core.errors import error_response
from whatsapp_builder.logging import get_logger
from whatsapp_builder.whatsapp.inbound_service import receive_delivery
from whatsapp_builder.whatsapp.parser import parse_webhook
from whatsapp_builder.whatsapp.signature import SIGNATURE_HEADER, SignatureCheck, verify

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = get_logger(__name__)


@router.get("/whatsapp", response_class=PlainTextResponse)
async def verify_subscription(
    context: ContextDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> Response:
    try:
        config = await context.active_config.get()
    except (OperationalError, DBAPIError, OSError):
        return PlainTextResponse("database unavailable", status_code=503)
    if (
        config is None
        or mode != "subscribe"
        or verify_token is None
        or challenge is None
        or not _same(verify_token, config.webhook_verify_token)
    ):
        return PlainTextResponse("verification failed", status_code=403)
    return PlainTextResponse(challenge)


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


@router.post("/whatsapp")
async def receive_events(request: Request, context: ContextDep) -> Response:
    body = await request.body()
    try:
        config = await context.active_config.get()
    except (OperationalError, DBAPIError, PoolTimeout, OSError) as exc:
        log.error("webhook not verified: database unavailable", error=str(exc))
        return error_response(503, "service_unavailable", "The database is unavailable; retry later.")
    if config is None or not config.app_secret:
        log.warning("webhook refused: no active WhatsApp config with an app secret")
        return error_response(403, "forbidden", "No active WhatsApp config with an app secret to verify with.")
    check = verify(body, request.headers.get(SIGNATURE_HEADER), config.app_secret)
    if check is SignatureCheck.MISSING:
        return error_response(401, "unauthorized", f"Missing {SIGNATURE_HEADER} header.")
    if check is not SignatureCheck.OK:
        return error_response(403, "forbidden", f"{SIGNATURE_HEADER} does not match the body.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "malformed_json", "The body is not valid JSON.")
    batch = parse_webhook(payload)
    if not batch.is_whatsapp_payload:
        return error_response(400, "bad_request", "Not a WhatsApp Business Account webhook (object).")
    for problem in batch.problems:
        log.warning("webhook item skipped", path=problem.path, problem=problem.message)
    for error in batch.errors:
        log.warning("webhook error reported by WhatsApp", code=error.code, title=error.title, details=error.details)
    try:
        stored = await receive_delivery(context, batch)
    except (OperationalError, DBAPIError, PoolTimeout, OSError, psycopg.Error, ShuttingDown) as exc:
        # Not stored: answer 5xx so that Meta delivers it again.
        log.error("webhook not stored", error=str(getattr(exc, "orig", exc)))
        return error_response(503, "service_unavailable", "Could not store the delivery; retry later.")
    return JSONResponse(
        {"status": "ok", "messages": stored.messages, "duplicates": stored.duplicates, "statuses": stored.statuses}
    )
