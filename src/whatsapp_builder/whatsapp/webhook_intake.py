"""Signed event deliveries (`POST /webhooks/whatsapp`): verify, parse, store, acknowledge.

`handle_delivery` holds the rules, whatever serves the request. `WebhookLane` serves it as a bare ASGI handler
ahead of the framework: every inbound message brings several of these POSTs (its own, then the status webhooks
of each reply), and FastAPI's middleware, routing and dependency resolution cost more CPU per POST than the
rules themselves (bench profile: 13% of the server against 5%).
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import Receive, Scope, Send

from whatsapp_builder.core import fastjson
from whatsapp_builder.core.batching import ShuttingDown
from whatsapp_builder.core.content import unreadable_body
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.crypto import SecretKeyMismatch
from whatsapp_builder.core.limits import BodySizeLimit, BodyTooLarge, read_body
from whatsapp_builder.logging import get_logger, warn_first
from whatsapp_builder.whatsapp.inbound_service import receive_delivery
from whatsapp_builder.whatsapp.parser import WHATSAPP_OBJECT, parse_webhook
from whatsapp_builder.whatsapp.signature import SIGNATURE_HEADER, SignatureCheck, verify

log = get_logger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
_SIGNATURE_HEADER_KEY = SIGNATURE_HEADER.lower().encode("latin-1")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": message, "details": []}}


# A refused signature reads the config again when the cached one is at least this old (a flood of forged
# deliveries costs at most one read a second).
CONFIG_RELOAD_SECONDS = 1.0


Answer = tuple[int, dict[str, Any]]


async def _verified(context: AppContext, body: bytes, signature: str) -> tuple[Answer | None, bool]:
    """(None when the body is signed with the active config's app secret, else the answer that refuses it;
    whether that config shows a refused delivery, `lastWebhookRefusal`)."""
    try:
        config = await context.active_config.get()
    except (OperationalError, DBAPIError, PoolTimeout, OSError) as exc:
        log.error("webhook not verified: database unavailable", error=str(exc))
        return _error(503, "service_unavailable", "The database is unavailable; retry later."), False
    except SecretKeyMismatch as exc:  # the app secret was saved by a process with another WAB_SECRET_KEY
        log.error("webhook not verified: the app secret cannot be read", error=str(exc))
        return (
            _error(503, "service_unavailable", "The app secret cannot be read here (WAB_SECRET_KEY); retry later."),
            False,
        )
    if config is None or not config.app_secret:
        return _NO_CONFIG, False
    check = verify(body, signature, config.app_secret)
    if check is SignatureCheck.MISSING:
        return _MISSING_SIGNATURE, config.webhooks_refused
    if check is not SignatureCheck.OK:
        return _MISMATCH, config.webhooks_refused
    return None, config.webhooks_refused


def _note(context: AppContext, answer: Answer) -> Answer:
    """`answer`, a refusal, logged as one (rate-limited: whatsapp/refusals.py)."""
    status, body = answer
    context.refusals.note(body["error"]["code"], status, body["error"]["message"])
    return answer


def _unsigned(signatures: list[str]) -> Answer | None:
    """The refusal of a delivery whose `X-Hub-Signature-256` headers (`signatures`, every one it has) are not
    exactly one non-empty signature, else None. Meta sends one: with two, which one counts would depend on what
    reads them (the first for Starlette, the last for others), and a proxy that adds or keeps a stale one could
    make a delivery pass on a signature that is not its own."""
    if len(signatures) > 1:
        return _AMBIGUOUS_SIGNATURE
    if not signatures or not signatures[0].strip():
        return _MISSING_SIGNATURE
    return None


async def handle_delivery(
    context: AppContext,
    body: bytes,
    signatures: list[str],
    *,
    content_type: str | None = None,
    content_encodings: list[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The answer to one delivery, given its `X-Hub-Signature-256` headers (and its Content-Type and
    Content-Encoding ones): its HTTP status and JSON body. A 200 means its events are committed; anything else
    makes Meta deliver it again."""
    unsigned = _unsigned(signatures)
    if unsigned is not None:
        return _note(context, unsigned)
    # Meta sends `application/json`, uncompressed. A body in another charset, or compressed (a proxy that
    # gzips requests), is refused as such (415, and shown as the last refusal): read as it is, it would be
    # refused anyway, as a signature mismatch or malformed JSON that would send its operator looking elsewhere.
    unreadable = unreadable_body(content_type, content_encodings or [])
    if unreadable is not None:
        return _refuse(context, 415, "unsupported_media_type", unreadable)
    signature = signatures[0]
    deadline = context.settings.webhook_deadline_seconds
    try:
        async with asyncio.timeout(deadline):
            return await _handle_signed(context, body, signature)
    except TimeoutError:
        # The batch this delivery joined is still written (it is shielded from its callers): a redelivery finds
        # its messages stored, or stores them if that write failed.
        log.error("webhook not acknowledged in time: the database is slow or not answering", seconds=deadline)
        return _error(503, "service_unavailable", f"The delivery was not stored within {deadline:g} s; retry later.")


async def _handle_signed(context: AppContext, body: bytes, signature: str) -> tuple[int, dict[str, Any]]:
    refused, shown = await _verified(context, body, signature)
    if refused is not None and refused[0] == 403 and context.active_config.age_seconds() >= CONFIG_RELOAD_SECONDS:
        # The config is cached for a few seconds per process: one saved meanwhile by another process (a new app
        # secret, `whatsapp-builder demo` restoring the demo's) would refuse Meta's deliveries until then.
        context.active_config.invalidate()
        refused, shown = await _verified(context, body, signature)
    if refused is _MISMATCH:
        context.refusals.signature_mismatch(context, _MISMATCH[1]["error"]["message"], shown=shown)
        return refused
    if refused is not None:
        return refused if refused[0] >= 500 else _note(context, refused)
    if shown:
        context.refusals.verified(context)
    try:
        payload = fastjson.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _refuse(context, 400, "malformed_json", "The body is not valid JSON.")
    other = _other_object(payload)
    if other is not None:
        # Signed by this app: a notification for another product of it (Messenger, Instagram, the app itself)
        # sent to the same callback URL. Meta wants a 200 for every notification; anything else it retries.
        context.refusals.note(f"object:{other}", 200, f"not for WhatsApp (object {other!r})", event="webhook ignored")
        return 200, {"status": "ignored", "messages": 0, "duplicates": 0, "statuses": 0}
    batch = parse_webhook(payload)
    if not batch.is_whatsapp_payload:
        why = f" ({batch.problems[0].path}: {batch.problems[0].message})" if batch.problems else ""
        return _refuse(context, 400, "bad_request", f"Not a WhatsApp Business Account webhook{why}.")
    warn_first(log, "webhook item skipped", batch.problems, lambda p: {"path": p.path, "problem": p.message})
    warn_first(
        log,
        "webhook error reported by WhatsApp",
        batch.errors,
        lambda e: {"code": e.code, "title": e.title, "details": e.details},
    )
    try:
        stored = await receive_delivery(context, batch)
    except (OperationalError, DBAPIError, PoolTimeout, OSError, psycopg.Error, ShuttingDown) as exc:
        # Not stored: answer 5xx so that Meta delivers it again.
        log.error("webhook not stored", error=str(getattr(exc, "orig", exc)))
        return _error(503, "service_unavailable", "Could not store the delivery; retry later.")
    return 200, {
        "status": "ok",
        "messages": stored.messages,
        "duplicates": stored.duplicates,
        "statuses": stored.statuses,
    }


def _refuse(context: AppContext, status: int, code: str, message: str) -> Answer:
    return _note(context, _error(status, code, message))


def _other_object(payload: object) -> str | None:
    """The `object` of a notification for another of the app's products, else None."""
    if not isinstance(payload, dict):
        return None
    kind = payload.get("object")
    return kind[:100] if isinstance(kind, str) and kind and kind != WHATSAPP_OBJECT else None


_MISSING_SIGNATURE = _error(401, "unauthorized", f"Missing {SIGNATURE_HEADER} header.")
_MISMATCH = _error(403, "forbidden", f"{SIGNATURE_HEADER} does not match the body.")
_AMBIGUOUS_SIGNATURE = _error(
    403, "forbidden", f"More than one {SIGNATURE_HEADER} header: a delivery is signed once, with one."
)
_NO_CONFIG = _error(403, "forbidden", "No active WhatsApp config with an app secret to verify with.")


class WebhookLane:
    """Serves `POST /webhooks/whatsapp` without the framework; `matches` says which requests are its own."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.cap = context.settings.webhook_max_body_bytes

    @staticmethod
    def matches(scope: Scope) -> bool:
        return bool(scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == WEBHOOK_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        signatures: list[str] = []
        content_type: str | None = None
        content_encodings: list[str] = []
        too_large = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                too_large = value.isdigit() and int(value) > self.cap
            elif name == _SIGNATURE_HEADER_KEY:
                signatures.append(value.decode("latin-1"))
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-encoding":
                content_encodings.append(value.decode("latin-1"))
        # Unsigned (or signed twice) is refused first, whatever the body (Meta signs every delivery, once), and
        # without reading it.
        unsigned = _unsigned(signatures)
        if unsigned is not None:
            await self._answer(send, *_note(self.context, unsigned))
            return
        if too_large:
            await self._too_large(send)
            return
        try:
            raw = await read_body(receive, self.cap)
        except BodyTooLarge:
            await self._too_large(send)
            return
        if raw is None:
            return  # the sender gave up: nothing to answer, and nothing was stored
        try:
            status, payload = await handle_delivery(
                self.context, raw, signatures, content_type=content_type, content_encodings=content_encodings
            )
        except Exception:
            # A bug, not the sender's fault: 5xx, so that Meta delivers it again once it is fixed.
            log.exception("webhook failed")
            status, payload = _error(500, "internal_error", "The delivery could not be processed.")
        await self._answer(send, status, payload)

    async def _too_large(self, send: Send) -> None:
        self.context.refusals.note("payload_too_large", 413, f"the body is over {self.cap} bytes")
        await BodySizeLimit.reject(send, self.cap)

    @staticmethod
    async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
        body = fastjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
