"""Validate a Graph API send body the way Meta does, reusing `whatsapp.outbound`'s limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whatsapp_builder.whatsapp.outbound import OutboundValidationError, parse_outbound

KNOWN_TYPES = frozenset(
    {"text", "image", "video", "audio", "document", "sticker", "interactive", "template", "reaction",
     "location", "contacts"}
)  # fmt: skip
VALIDATED_INTERACTIVE = frozenset({"button", "list"})


@dataclass(frozen=True, slots=True)
class GraphRejection:
    """Why Meta would refuse the request: the error code (100 or 131009) and its details."""

    code: int
    message: str
    details: str


def _missing(param: str) -> GraphRejection:
    return GraphRejection(100, "(#100) Invalid parameter", f"The parameter {param} is required.")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _interactive_content(obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj.get("type")
    content: dict[str, Any] = {"body": _dict(obj.get("body")).get("text")}
    header = obj.get("header")
    if isinstance(header, dict) and header.get("type") == "text":
        content["header"] = header.get("text")
    if "footer" in obj:
        content["footer"] = _dict(obj.get("footer")).get("text")
    action = _dict(obj.get("action"))
    if kind == "button":
        content["kind"] = "buttons"
        buttons = action.get("buttons")
        content["buttons"] = (
            [
                {
                    "id": _dict(_dict(b).get("reply")).get("id"),
                    "title": _dict(_dict(b).get("reply")).get("title"),
                }
                for b in buttons
            ]
            if isinstance(buttons, list)
            else buttons
        )
    else:
        content["kind"] = "list"
        content["button"] = action.get("button")
        sections = action.get("sections")
        if isinstance(sections, list):
            converted: list[Any] = []
            for section in sections:
                s = _dict(section)
                item: dict[str, Any] = {"rows": s.get("rows")}
                if "title" in s:
                    item["title"] = s.get("title")
                if isinstance(s.get("rows"), list):
                    item["rows"] = [
                        {k: v for k, v in _dict(r).items() if k in ("id", "title", "description")} for r in s["rows"]
                    ]
                converted.append(item)
            content["sections"] = converted
        else:
            content["sections"] = sections
    return {k: v for k, v in content.items() if v is not None or k in ("body", "button")}


def _outbound_form(msg_type: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The `whatsapp.outbound` form of a Graph type object, or None when we do not check that kind."""
    content: dict[str, Any]
    if msg_type == "text":
        content = {"body": obj.get("body")}
        if "preview_url" in obj:
            content["previewUrl"] = obj["preview_url"]
    elif msg_type in ("image", "video", "audio", "document", "sticker"):
        content = {}
        if "link" in obj:
            content["url"] = obj["link"]
        if "id" in obj:
            content["id"] = obj["id"]
        for key in ("caption", "filename"):
            if key in obj:
                content[key] = obj[key]
    elif msg_type == "interactive":
        if obj.get("type") not in VALIDATED_INTERACTIVE:
            return None
        content = _interactive_content(obj)
    elif msg_type == "template":
        content = {"name": obj.get("name"), "language": _dict(obj.get("language")).get("code")}
        if "components" in obj:
            content["components"] = obj["components"]
    elif msg_type == "reaction":
        content = {"messageId": obj.get("message_id"), "emoji": obj.get("emoji")}
    elif msg_type == "location":
        content = {k: obj.get(k) for k in ("latitude", "longitude", "name", "address") if k in obj}
    else:
        return None
    return {"type": msg_type, "content": content}


def check_send_body(body: object) -> GraphRejection | None:
    """None when the send body is acceptable, else the rejection Meta would answer with."""
    if not isinstance(body, dict):
        return GraphRejection(100, "(#100) Invalid parameter", "The request body must be a JSON object.")
    if body.get("messaging_product") != "whatsapp":
        return GraphRejection(100, "(#100) Invalid parameter", "The parameter messaging_product must be 'whatsapp'.")
    to, recipient = body.get("to"), body.get("recipient")
    if not (isinstance(to, str) and to.strip()) and not (isinstance(recipient, str) and recipient.strip()):
        return _missing("to")
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        return GraphRejection(100, "(#100) Invalid parameter", "recipient_type must be 'individual'.")
    msg_type = body.get("type", "text")
    if not isinstance(msg_type, str) or msg_type not in KNOWN_TYPES:
        return GraphRejection(100, "(#100) Invalid parameter", f"Unsupported message type: {msg_type!r}.")
    obj = body.get(msg_type)
    if not isinstance(obj, dict):
        return _missing(msg_type)
    context = body.get("context")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
        return _missing("context['message_id']")
    form = _outbound_form(msg_type, obj)
    if form is None:
        return None
    try:
        parse_outbound(form)
    except OutboundValidationError as exc:
        details = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)
        return GraphRejection(131009, "(#131009) Parameter value is not valid", details)
    return None
