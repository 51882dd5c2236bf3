"""Pure builders of Meta's webhook payloads, shared by the simulator and by tests."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from typing import Any

DEFAULT_PHONE_NUMBER_ID = "100000000000001"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550001111"
DEFAULT_BUSINESS_ACCOUNT_ID = "200000000000001"


def new_wamid() -> str:
    """A fresh WhatsApp-like message id: ``wamid.`` + base64 of random bytes (unique per call)."""
    raw = b"\x15\x02\x00\x11\x18" + secrets.token_bytes(24)
    return "wamid." + base64.b64encode(raw).decode("ascii").rstrip("=")


def phone_digits(phone: str) -> str:
    """``"+1 (555) 123-4567"`` -> ``"15551234567"``."""
    return re.sub(r"\D", "", phone)


def fake_bsuid(phone: str, country: str = "US") -> str:
    """A stable business-scoped user id for a phone number (same phone -> same id)."""
    digest = hashlib.sha256(phone_digits(phone).encode("ascii")).hexdigest()
    return f"{country}.{int(digest[:15], 16)}"


def _envelope(
    value: dict[str, Any], *, phone_number_id: str, display_phone_number: str, business_account_id: str
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": business_account_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone_number,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


# ------------------------------------------------------------- the type-specific part of a message


def text_message(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def request_welcome_message() -> dict[str, Any]:
    """The customer opened the chat for the first time (WhatsApp's welcome-message trigger)."""
    return {"type": "request_welcome"}


def button_reply_message(button_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    }


def list_reply_message(row_id: str, title: str, description: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": row_id, "title": title}
    if description is not None:
        reply["description"] = description
    return {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}}


def image_message(
    *, media_id: str | None = None, link: str | None = None, caption: str | None = None
) -> dict[str, Any]:
    source = media_id or link or secrets.token_hex(8)
    image: dict[str, Any] = {
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "id": media_id or str(int(hashlib.sha256(source.encode("utf-8")).hexdigest()[:15], 16)),
    }
    if link is not None:
        image["url"] = link
    if caption is not None:
        image["caption"] = caption
    return {"type": "image", "image": image}


def location_message(
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    for key, value in (("name", name), ("address", address), ("url", url)):
        if value is not None:
            location[key] = value
    return {"type": "location", "location": location}


# ------------------------------------------------------------------------------------ whole payloads


def build_inbound_webhook(
    message: dict[str, Any],
    *,
    from_phone: str | None,
    user_id: str | None = None,
    name: str | None = None,
    username: str | None = None,
    wamid: str | None = None,
    timestamp: int | None = None,
    context_message_id: str | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    business_account_id: str = DEFAULT_BUSINESS_ACCOUNT_ID,
) -> dict[str, Any]:
    """Meta's messages webhook for one customer message.

    ``message`` is the type-specific part (``{"type": "text", "text": {"body": "hi"}}``, see the helpers
    above). ``from_phone`` may be None for a customer known only by a business-scoped user id.
    """
    if from_phone is None and user_id is None:
        raise ValueError("a sender needs a phone number or a user id")
    digits = phone_digits(from_phone) if from_phone is not None else None
    profile: dict[str, Any] = {}
    if name is not None:
        profile["name"] = name
    if username is not None:
        profile["username"] = username
    contact: dict[str, Any] = {"profile": profile}
    if digits is not None:
        contact["wa_id"] = digits
    if user_id is not None:
        contact["user_id"] = user_id
    msg: dict[str, Any] = {}
    if digits is not None:
        msg["from"] = digits
    if user_id is not None:
        msg["from_user_id"] = user_id
    msg["id"] = wamid or new_wamid()
    msg["timestamp"] = str(timestamp if timestamp is not None else int(time.time()))
    if context_message_id is not None:
        msg["context"] = {"from": display_phone_number, "id": context_message_id}
    msg.update(message)
    return _envelope(
        {"contacts": [contact], "messages": [msg]},
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        business_account_id=business_account_id,
    )


def status_item(
    wamid: str,
    status: str,
    *,
    recipient_id: str | None,
    recipient_user_id: str | None = None,
    timestamp: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    include_pricing: bool = True,
) -> dict[str, Any]:
    """One entry of a status webhook's ``statuses`` list (see `build_status_webhook`)."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
    }
    if recipient_id is not None:
        item["recipient_id"] = recipient_id
    if recipient_user_id is not None:
        item["recipient_user_id"] = recipient_user_id
    if status in ("sent", "delivered") and include_pricing:
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "service"}
    if errors:
        item["errors"] = [
            {
                "code": e.get("code"),
                "title": e.get("title"),
                "message": e.get("message") or e.get("title"),
                "error_data": {"details": e.get("details")},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
            for e in errors
        ]
    return item


def status_envelope(
    items: list[dict[str, Any]],
    *,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    business_account_id: str = DEFAULT_BUSINESS_ACCOUNT_ID,
) -> dict[str, Any]:
    """A status webhook carrying several statuses in one change, as Meta batches them under load."""
    return _envelope(
        {"statuses": items},
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        business_account_id=business_account_id,
    )


def build_status_webhook(
    wamid: str,
    status: str,
    *,
    recipient_id: str | None,
    recipient_user_id: str | None = None,
    timestamp: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    include_pricing: bool = True,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    business_account_id: str = DEFAULT_BUSINESS_ACCOUNT_ID,
) -> dict[str, Any]:
    """Meta's status webhook (``sent``, ``delivered``, ``read``, ``failed``) for one outbound message.

    ``errors`` items are ``{"code", "title", "message", "details"}`` and are rendered as Meta does
    (``error_data.details``). Pricing is attached to ``sent``/``delivered`` only, like Meta (and it is
    optional there since Graph v24).
    """
    item = status_item(
        wamid,
        status,
        recipient_id=recipient_id,
        recipient_user_id=recipient_user_id,
        timestamp=timestamp,
        errors=errors,
        include_pricing=include_pricing,
    )
    return status_envelope(
        [item],
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        business_account_id=business_account_id,
    )
