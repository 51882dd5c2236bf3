"""`GET/POST /webhooks/whatsapp`: Meta's verification handshake and signed event deliveries.

A POST is verified against the raw bytes before anything is parsed, stored, and only then acknowledged: a 200
means the delivery is durable, anything else makes Meta deliver it again (see `webhook_intake.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError

from whatsapp_builder.core.deps import ContextDep
from whatsapp_builder.core.errors import documented
from whatsapp_builder.whatsapp.signature import SIGNATURE_HEADER
from whatsapp_builder.whatsapp.webhook_intake import handle_delivery

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class DeliveryStored(BaseModel):
    """The answer to a delivery that is stored (or, signed by this app, for another of its products)."""

    status: Literal["ok", "ignored"] = Field(
        description="`ok`: stored and committed; `ignored`: a notification for another product (`object` is not"
        " `whatsapp_business_account`), acknowledged so that Meta does not retry it"
    )
    messages: int = Field(description="Messages stored for the first time")
    duplicates: int = Field(description="Messages already stored (a redelivery): nothing stored twice")
    statuses: int = Field(
        description="Messages whose status moved forward (a redelivered or older status moves nothing)"
    )


@router.get(
    "/whatsapp",
    response_class=PlainTextResponse,
    responses={
        403: {"description": "No active config, or `hub.verify_token` is not its verify token (plain text)"},
        503: {"description": "The database is unavailable (plain text)"},
    },
)
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
    if config is None:
        why = "no active WhatsApp config"
    elif mode != "subscribe" or verify_token is None or challenge is None:
        why = "hub.mode=subscribe, hub.verify_token and hub.challenge are needed"
    elif not _same(verify_token, config.webhook_verify_token):
        why = "hub.verify_token is not the config's verify token"
    else:
        # The challenge is the caller's text echoed back: never let a browser sniff it into HTML.
        return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})
    context.refusals.note("verification", 403, why, event="webhook verification refused")
    return PlainTextResponse("verification failed", status_code=403)


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


@router.post(
    "/whatsapp",
    response_model=DeliveryStored,
    responses={
        400: documented("The body is not JSON, or not a WhatsApp Business Account notification"),
        401: documented(f"No `{SIGNATURE_HEADER}` header"),
        403: documented(
            f"`{SIGNATURE_HEADER}` does not match the body, or comes more than once, or no config has an app secret"
            " to check it"
        ),
        413: documented("The body is over `WAB_WEBHOOK_MAX_BODY`"),
        415: documented("The body is compressed (`Content-Encoding`) or in a charset other than UTF-8"),
        503: documented("Not stored (the database is unavailable or slow): Meta delivers it again"),
    },
)
async def receive_events(request: Request, context: ContextDep) -> Response:
    """Meta's signed event deliveries (messages, statuses, errors), checked against `X-Hub-Signature-256`. The
    answer is 200 only once they are stored; any other answer makes Meta deliver them again."""
    # `serve` answers these POSTs in `WebhookLane`, ahead of FastAPI; this route documents the endpoint and
    # serves an app mounted under another path.
    signatures = request.headers.getlist(SIGNATURE_HEADER)  # every one: more than one is refused
    status, payload = await handle_delivery(
        context,
        await request.body(),
        signatures,
        content_type=request.headers.get("content-type"),
        content_encodings=request.headers.getlist("content-encoding"),
    )
    return JSONResponse(payload, status_code=status)
