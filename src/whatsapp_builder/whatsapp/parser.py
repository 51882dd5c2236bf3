"""Turn a WhatsApp Cloud API webhook body into typed events.

`parse_webhook` accepts any JSON value and never raises: whatever cannot be understood is reported as a
`ParseProblem` and skipped, so one malformed item never costs the rest of a batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

WHATSAPP_OBJECT = "whatsapp_business_account"

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a customer sent to the business."""

    phone_number_id: str
    display_phone_number: str | None
    wa_message_id: str
    from_phone: str | None
    from_user_id: str | None
    contact_name: str | None
    contact_username: str | None
    timestamp: datetime
    type: str
    content: dict[str, Any]
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """The delivery status of a message the business sent."""

    phone_number_id: str
    wa_message_id: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None
    errors: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ChangeError:
    """An error reported in ``value.errors[]`` of a change (not tied to one message)."""

    phone_number_id: str | None
    code: int | None
    title: str | None
    message: str | None
    details: str | None


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A piece of the payload that was skipped (or degraded) because it was malformed."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """Everything one webhook POST carried."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[ChangeError] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    is_whatsapp_payload: bool = False


class _Malformed(Exception):
    """Raised inside content builders; turned into a ParseProblem by the caller."""


# --------------------------------------------------------------------------------------------- helpers


def _str(value: object) -> str | None:
    """A string field; integers are accepted (Meta sends ids and timestamps as strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


# Meta's business-scoped user id: a two-letter country code, a dot, alphanumerics ("BR.1502576394655843"; a
# parent one "US.ENT.…"). Anything else is not trusted as one (mended, "US.\u00001" would become another customer).
_BSUID = re.compile(r"[A-Za-z]{2}(?:\.[A-Za-z0-9]+){1,3}")
BSUID_MAX = 160


def valid_bsuid(value: object) -> str | None:
    text = _str(value)
    return text if text and len(text) <= BSUID_MAX and _BSUID.fullmatch(text) else None


def _dict(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


# What a status webhook may say (`pending` is ours alone: a message not yet sent).
WEBHOOK_STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _items(out: _Collector, path: str, container: dict[str, Any], key: str) -> list[Any]:
    """The list under `key`; one that is there but not a list is a problem (logged), not silently nothing."""
    value = container.get(key)
    if value is not None and not isinstance(value, list):
        out.problem(f"{path}.{key}", f"{key} is not a list; skipped")
        return []
    return _list(value)


def _float(value: object) -> float | None:
    """A finite float from a JSON number or a numeric string; None otherwise (an integer too large for a float,
    10**400, included: JSON allows it, and float() would raise OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


# 2009-01-01: no WhatsApp message is older (a 0 or a small number is a bug on the sender's side, and would close the
# customer's window at once).
_EARLIEST_TIMESTAMP = 1_230_768_000


def _timestamp(value: object) -> datetime:
    """UTC datetime from unix seconds (string or number); now() when missing, unusable, older than WhatsApp or in
    the future (a message cannot come from there, and its time would hold the customer's 24-hour window open)."""
    seconds = _float(value)
    if seconds is not None and seconds >= _EARLIEST_TIMESTAMP:
        now = datetime.now(tz=UTC)
        try:
            return min(datetime.fromtimestamp(seconds, tz=UTC), now)
        except (OverflowError, OSError, ValueError):
            return now
    return datetime.now(tz=UTC)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _set_if(target: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        target[key] = value


def normalize_error(raw: object) -> dict[str, Any]:
    """One Meta error object -> ``{"code", "title", "message", "details"}``."""
    obj = _dict(raw) or {}
    error_data = _dict(obj.get("error_data")) or {}
    details = _str(error_data.get("details"))
    if details is None:
        details = _str(obj.get("details"))
    return {
        "code": _int(obj.get("code")),
        "title": _str(obj.get("title")),
        "message": _str(obj.get("message")),
        "details": details,
    }


# ----------------------------------------------------------------------------------- message content


def _require_obj(msg: dict[str, Any], key: str) -> dict[str, Any]:
    obj = _dict(msg.get(key))
    if obj is None:
        raise _Malformed(f"'{key}' object missing or not an object")
    return obj


def _require_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = _str(obj.get(key))
    if not value:
        raise _Malformed(f"{where}.{key} missing or not a string")
    return value


def _text_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "text")
    body = _str(obj.get("body"))
    if body is None:
        raise _Malformed("text.body missing")
    return "text", {"body": body}


def _media_content(kind: str, msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, kind)
    # Without its media id an inbound image or document cannot be fetched: it is not one.
    content: dict[str, Any] = {"id": _require_str(obj, "id", kind), "mimeType": _str(obj.get("mime_type"))}
    _set_if(content, "sha256", _str(obj.get("sha256")))
    _set_if(content, "caption", _str(obj.get("caption")))
    _set_if(content, "filename", _str(obj.get("filename")))
    if kind == "audio" and isinstance(obj.get("voice"), bool):
        content["voice"] = obj["voice"]
    if kind == "sticker" and isinstance(obj.get("animated"), bool):
        content["animated"] = obj["animated"]
    return kind, content


def _interactive_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "interactive")
    sub = _str(obj.get("type"))
    if sub == "button_reply":
        reply = _require_obj(obj, "button_reply")
        return "interactive", {
            "buttonId": _require_str(reply, "id", "button_reply"),
            "title": _str(reply.get("title")),
        }
    if sub == "list_reply":
        reply = _require_obj(obj, "list_reply")
        content: dict[str, Any] = {
            "listRowId": _require_str(reply, "id", "list_reply"),
            "title": _str(reply.get("title")),
        }
        _set_if(content, "description", _str(reply.get("description")))
        return "interactive", content
    if sub == "nfm_reply":
        reply = _require_obj(obj, "nfm_reply")
        response: Any = reply.get("response_json")
        if isinstance(response, str):
            with contextlib.suppress(ValueError, RecursionError):
                response = json.loads(response)
        content = {"flowResponse": response}
        _set_if(content, "body", _str(reply.get("body")))
        _set_if(content, "name", _str(reply.get("name")))
        return "interactive", content
    return "unsupported", {"originalType": "interactive", "interactiveType": sub, "errors": []}


def _button_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "button")
    payload, text = _str(obj.get("payload")), _str(obj.get("text"))
    if not payload and not text:
        raise _Malformed("button has neither payload nor text")
    # A template's quick-reply button sent without a payload comes back with its text as the payload (Meta's
    # default): one without either id is read the same way, never stored with a null id.
    return "button", {"buttonId": payload or text, "title": text or payload}


def _reaction_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "reaction")
    raw_emoji = obj.get("emoji")
    if raw_emoji is not None and not isinstance(raw_emoji, str):
        raise _Malformed("reaction.emoji is not a string")
    emoji = _str(raw_emoji)  # absent or empty: the customer removed their reaction
    return "reaction", {"messageId": _require_str(obj, "message_id", "reaction"), "emoji": emoji or None}


def _location_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "location")
    latitude, longitude = _float(obj.get("latitude")), _float(obj.get("longitude"))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise _Malformed("location.latitude/longitude missing or not coordinates")
    content: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    for key in ("name", "address", "url"):
        _set_if(content, key, _str(obj.get(key)))
    return "location", content


def _contacts_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    contacts = msg.get("contacts")
    if not isinstance(contacts, list):
        raise _Malformed("'contacts' list missing")
    return "contacts", {"contacts": [c for c in contacts if isinstance(c, dict)]}


def _order_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "order")
    content: dict[str, Any] = {
        "catalogId": _str(obj.get("catalog_id")),
        "productItems": [item for item in _list(obj.get("product_items")) if isinstance(item, dict)],
    }
    _set_if(content, "text", _str(obj.get("text")))
    return "order", content


def _system_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    obj = _require_obj(msg, "system")
    content: dict[str, Any] = {"kind": _str(obj.get("type"))}
    for key, value in obj.items():
        if key == "type" or not isinstance(key, str):
            continue
        content[_camel(key)] = value
    return "system", content


def _revoke_content(msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The customer deleted one of their messages (numbers shared with the WhatsApp Business app): a notice."""
    obj = _require_obj(msg, "revoke")
    return "system", {"kind": "revoke", "originalMessageId": _require_str(obj, "original_message_id", "revoke")}


def _edit_content(msg: dict[str, Any], depth: int) -> tuple[str, dict[str, Any]]:
    """The customer edited one of their messages: a notice holding the new version, parsed as a message is."""
    obj = _require_obj(msg, "edit")
    content: dict[str, Any] = {"kind": "edit", "originalMessageId": _require_str(obj, "original_message_id", "edit")}
    inner = _dict(obj.get("message"))
    if inner is not None and depth == 0:
        kind, inner_content = message_content(inner, depth + 1)
        content["message"] = {"type": kind, "content": inner_content}
    return "system", content


def _unsupported_content(msg_type: str, msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    original = msg_type
    detail = _dict(msg.get("unsupported"))
    if msg_type == "unsupported" and detail is not None and _str(detail.get("type")):
        original = str(detail["type"])
    return "unsupported", {
        "originalType": original,
        "errors": [normalize_error(e) for e in _list(msg.get("errors"))],
    }


def message_content(msg: dict[str, Any], depth: int = 0) -> tuple[str, dict[str, Any]]:
    """Map one raw ``messages[]`` item to our (type, content). Raises `_Malformed`."""
    msg_type = _str(msg.get("type")) or "unknown"
    kind: str
    content: dict[str, Any]
    if msg_type == "text":
        kind, content = _text_content(msg)
    elif msg_type in MEDIA_TYPES:
        kind, content = _media_content(msg_type, msg)
    elif msg_type == "interactive":
        kind, content = _interactive_content(msg)
    elif msg_type == "button":
        kind, content = _button_content(msg)
    elif msg_type == "reaction":
        kind, content = _reaction_content(msg)
    elif msg_type == "location":
        kind, content = _location_content(msg)
    elif msg_type == "contacts":
        kind, content = _contacts_content(msg)
    elif msg_type == "order":
        kind, content = _order_content(msg)
    elif msg_type == "system":
        kind, content = _system_content(msg)
    elif msg_type == "request_welcome":
        kind, content = "system", {"kind": "request_welcome"}
    elif msg_type == "revoke":
        kind, content = _revoke_content(msg)
    elif msg_type == "edit":
        kind, content = _edit_content(msg, depth)
    else:
        kind, content = _unsupported_content(msg_type, msg)
    context = _dict(msg.get("context"))
    if context is not None:
        _set_if(content, "replyTo", _str(context.get("id")))
        # An enquiry about a catalog product ("Message business" on a product), and WhatsApp's forwarding marks.
        product = _dict(context.get("referred_product"))
        if product is not None:
            referred = {
                "catalogId": _str(product.get("catalog_id")),
                "productRetailerId": _str(product.get("product_retailer_id")),
            }
            if any(referred.values()):
                content["referredProduct"] = {k: v for k, v in referred.items() if v}
        if context.get("frequently_forwarded") is True:
            content["frequentlyForwarded"] = True
        if context.get("forwarded") is True or context.get("frequently_forwarded") is True:
            content["forwarded"] = True
    referral = _dict(msg.get("referral"))
    if referral is not None:
        content["referral"] = referral
    return kind, content


# ------------------------------------------------------------------------------------------- walking


@dataclass(slots=True)
class _Collector:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[ChangeError] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ParseProblem(path=path, message=message))


@dataclass(slots=True)
class _Contact:
    wa_id: str | None
    user_id: str | None
    name: str | None
    username: str | None


def _contacts(out: _Collector, path: str, value: dict[str, Any]) -> list[_Contact]:
    result: list[_Contact] = []
    for raw in _items(out, path, value, "contacts"):
        obj = _dict(raw)
        if obj is None:
            continue
        profile = _dict(obj.get("profile")) or {}
        result.append(
            _Contact(
                wa_id=_str(obj.get("wa_id")),
                user_id=valid_bsuid(obj.get("user_id")),
                name=_str(profile.get("name")),
                username=_str(profile.get("username")),
            )
        )
    return result


def _match_contact(contacts: list[_Contact], phone: str | None, user_id: str | None) -> _Contact | None:
    # The same customer may be listed twice in one change, with and without a number (a username user): the entry
    # that matches the message's own number (or its lack of one) first, so that no number is lent to a message
    # that came without it.
    if user_id is not None:
        same = [c for c in contacts if c.user_id == user_id]
        for contact in same:
            if contact.wa_id == phone:
                return contact
        if same:
            return same[0]
    for contact in contacts:
        if phone is not None and contact.wa_id == phone:
            return contact
    if len(contacts) == 1:
        only = contacts[0]
        conflicting = (phone is not None and only.wa_id not in (None, phone)) or (
            user_id is not None and only.user_id not in (None, user_id)
        )
        if not conflicting:
            return only
    return None


def _parse_message(
    out: _Collector,
    path: str,
    raw: object,
    phone_number_id: str,
    display_phone_number: str | None,
    contacts: list[_Contact],
) -> None:
    msg = _dict(raw)
    if msg is None:
        out.problem(path, "message is not an object")
        return
    wa_message_id = _str(msg.get("id"))
    if not wa_message_id or not wa_message_id.strip():
        # Blanks are no id either: stored, they would make every later blank-id message a "redelivery".
        out.problem(path, "message without an id")
        return
    if msg.get("group_id") not in (None, ""):
        # Written in a WhatsApp group the business is in, not to the business: stored as the member's message, it
        # opened their 1:1 window and the chatbot answered them privately. Group chats are not supported.
        out.problem(path, "a message written in a WhatsApp group (group chats are not supported): not stored")
        return
    phone = _str(msg.get("from")) or None
    user_id = valid_bsuid(msg.get("from_user_id"))
    contact = _match_contact(contacts, phone, user_id)
    if contact is not None:
        user_id = user_id or contact.user_id
        phone = phone or contact.wa_id
    if phone is None and user_id is None and msg.get("type") == "system":
        # A changed BSUID with no phone number to share: the notice names the customer by their previous BSUID.
        system = msg.get("system")
        user_id = valid_bsuid(system.get("previous_user_id")) if isinstance(system, dict) else None
    if phone is None and user_id is None:
        out.problem(path, "message without a sender (no 'from' nor a valid 'from_user_id')")
        return
    try:
        kind, content = message_content(msg)
    except _Malformed as exc:
        out.problem(path, f"{_str(msg.get('type'))}: {exc}; kept as unsupported")
        kind, content = "unsupported", {"originalType": _str(msg.get("type")) or "unknown", "errors": []}
    out.messages.append(
        InboundMessage(
            phone_number_id=phone_number_id,
            display_phone_number=display_phone_number,
            wa_message_id=wa_message_id,
            from_phone=phone,
            from_user_id=user_id,
            contact_name=contact.name if contact else None,
            contact_username=contact.username if contact else None,
            timestamp=_timestamp(msg.get("timestamp")),
            type=kind,
            content=content,
            raw=msg,
        )
    )


CALL = "call"


def _parse_call(
    out: _Collector,
    path: str,
    raw: object,
    phone_number_id: str,
    display_phone_number: str | None,
    contacts: list[_Contact],
) -> None:
    """A customer calling the business (WhatsApp Calling: the `calls` field's `connect` of a USER_INITIATED call)
    is kept as a notice `{"kind": "call"}` in their conversation: it opens or refreshes the 24-hour window, as
    a message does. The call's other events (its end, the business's own calls) change nothing here."""
    call = _dict(raw)
    if call is None:
        out.problem(path, "call is not an object")
        return
    if call.get("event") != "connect" or call.get("direction") != "USER_INITIATED":
        return
    # Taken as a message of WhatsApp's own kind `system`: ingest stores it, and its sender, like any other.
    notice = {key: call.get(key) for key in ("id", "from", "from_user_id", "timestamp")}
    _parse_message(
        out,
        path,
        notice | {"type": "system", "system": {"type": CALL}},
        phone_number_id,
        display_phone_number,
        contacts,
    )


def _parse_status(out: _Collector, path: str, raw: object, phone_number_id: str) -> None:
    obj = _dict(raw)
    if obj is None:
        out.problem(path, "status is not an object")
        return
    wa_message_id = _str(obj.get("id"))
    status = _str(obj.get("status"))
    if not wa_message_id or not status:
        out.problem(path, "status without an id or a status")
        return
    if status not in WEBHOOK_STATUSES:
        out.problem(f"{path}.status", f"unknown status {status[:40]!r}; skipped")
        return
    out.statuses.append(
        StatusUpdate(
            phone_number_id=phone_number_id,
            wa_message_id=wa_message_id,
            status=status,
            timestamp=_timestamp(obj.get("timestamp")),
            recipient_id=_str(obj.get("recipient_id")),
            recipient_user_id=valid_bsuid(obj.get("recipient_user_id")),
            errors=[normalize_error(e) for e in _list(obj.get("errors"))],
        )
    )


def _parse_change(out: _Collector, path: str, raw: object) -> None:
    change = _dict(raw)
    if change is None:
        out.problem(path, "change is not an object")
        return
    field = change.get("field")
    if field not in ("messages", "calls"):
        if not isinstance(field, str):
            out.problem(f"{path}.field", "change without a field name; skipped")
        return  # other subscriptions (account updates, templates, ...) are not ours to parse
    value = _dict(change.get("value"))
    if value is None:
        out.problem(f"{path}.value", "value missing or not an object")
        return
    metadata = _dict(value.get("metadata")) or {}
    phone_number_id = _str(metadata.get("phone_number_id"))
    display = _str(metadata.get("display_phone_number"))
    for i, err in enumerate(_items(out, f"{path}.value", value, "errors")):
        if not isinstance(err, dict):
            out.problem(f"{path}.value.errors[{i}]", "error is not an object")
            continue
        e = normalize_error(err)
        out.errors.append(ChangeError(phone_number_id, e["code"], e["title"], e["message"], e["details"]))
    if not phone_number_id:
        if value.get("messages") or value.get("statuses") or value.get("calls"):
            out.problem(f"{path}.value.metadata", "metadata.phone_number_id missing; change skipped")
        return
    contacts = _contacts(out, f"{path}.value", value)
    if field == "calls":
        for i, call in enumerate(_items(out, f"{path}.value", value, "calls")):
            item = f"{path}.value.calls[{i}]"
            try:
                _parse_call(out, item, call, phone_number_id, display, contacts)
            except Exception as exc:  # a safety net per item, as for messages
                out.problem(item, f"unexpected parser error: {type(exc).__name__}; skipped")
        return
    for i, msg in enumerate(_items(out, f"{path}.value", value, "messages")):
        item = f"{path}.value.messages[{i}]"
        try:
            _parse_message(out, item, msg, phone_number_id, display, contacts)
        except Exception as exc:  # a safety net per item: one odd message must not cost the batch
            out.problem(item, f"unexpected parser error: {type(exc).__name__}; skipped")
    for i, status in enumerate(_items(out, f"{path}.value", value, "statuses")):
        item = f"{path}.value.statuses[{i}]"
        try:
            _parse_status(out, item, status, phone_number_id)
        except Exception as exc:
            out.problem(item, f"unexpected parser error: {type(exc).__name__}; skipped")


def _parse(payload: object, out: _Collector) -> bool:
    root = _dict(payload)
    if root is None:
        out.problem("$", "payload is not a JSON object")
        return False
    if root.get("object") != WHATSAPP_OBJECT:
        out.problem("$.object", f"expected {WHATSAPP_OBJECT!r}")
        return False
    entries = root.get("entry")
    if not isinstance(entries, list):
        # Nothing a webhook could carry: answered 400, not an "ok" that would hide a broken sender.
        out.problem("$.entry", "entry list missing" if entries is None else "entry is not a list")
        return False
    for i, entry_raw in enumerate(entries):
        entry = _dict(entry_raw)
        if entry is None:
            out.problem(f"entry[{i}]", "entry is not an object")
            continue
        for j, change in enumerate(_items(out, f"entry[{i}]", entry, "changes")):
            try:
                _parse_change(out, f"entry[{i}].changes[{j}]", change)
            except Exception as exc:  # as above, per change
                out.problem(f"entry[{i}].changes[{j}]", f"unexpected parser error: {type(exc).__name__}; skipped")
    return True


def parse_webhook(payload: object) -> WebhookBatch:
    """Parse a decoded webhook body. Never raises, whatever JSON value it is given."""
    out = _Collector()
    is_whatsapp = False
    try:
        is_whatsapp = _parse(payload, out)
    except Exception as exc:  # a safety net: the walk above is written not to raise
        out.problem("$", f"unexpected parser error: {type(exc).__name__}")
    return WebhookBatch(
        messages=out.messages,
        statuses=out.statuses,
        errors=out.errors,
        problems=out.problems,
        is_whatsapp_payload=is_whatsapp,
    )
