"""What an operator or the flow engine asks to send, validated against WhatsApp's limits.

An outbound message is ``{"type": ..., "content": {...}}`` with camelCase content (the shape stored in
``messages.content``). `parse_outbound` validates it and raises one `OutboundValidationError` naming every
offending field (``content.buttons.3``, ``content.body``...); `to_graph_payload` turns it into the exact
Graph API request body.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import regex
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from whatsapp_builder.flows.nesting import storable_json

# WhatsApp's limits (whatsapp-cloud-api.md)
TEXT_BODY_MAX = 4096
CAPTION_MAX = 1024
BUTTONS_MIN, BUTTONS_MAX = 1, 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
BUTTONS_BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
LIST_BODY_MAX = 4096
LIST_BUTTON_MAX = 20
LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10
SECTION_TITLE_MAX = 24
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
MESSAGE_TYPES = ("text", *MEDIA_KINDS, "interactive", "template", "reaction", "location")


class _Content(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )

    def as_content(self) -> dict[str, Any]:
        """The stored (camelCase) JSON shape, without unset optional keys."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be only spaces: WhatsApp would show nothing to tap")
    return value


# A title of only spaces: refused here, as the flow validator's `blank_title` refuses it in a chatbot.
Title = Annotated[str, AfterValidator(_not_blank)]


def _not_blank_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be only spaces: WhatsApp would deliver an empty message")
    return value


class TextContent(_Content):
    body: Annotated[str, AfterValidator(_not_blank_text)] = Field(min_length=1, max_length=TEXT_BODY_MAX)
    preview_url: StrictBool = False


def _check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    if any(unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" for ch in value):
        raise ValueError("must be a URL without line breaks or control characters (percent-encode them)")
    return value


MEDIA_URL_MAX = 2048  # longer links (or ids) are no media WhatsApp fetches: refused here, not by a failed send
MEDIA_ID_MAX = 256


class _MediaContent(_Content):
    url: str | None = Field(default=None, max_length=MEDIA_URL_MAX)
    id: str | None = Field(default=None, min_length=1, max_length=MEDIA_ID_MAX)

    _valid_url = field_validator("url")(_check_http_url)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> _MediaContent:
        if (self.url is None) == (self.id is None):
            raise ValueError("exactly one of 'url' or 'id' is required")
        return self


class ImageContent(_MediaContent):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class VideoContent(_MediaContent):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class AudioContent(_MediaContent):
    pass


class StickerContent(_MediaContent):
    pass


class DocumentContent(_MediaContent):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)
    filename: str | None = Field(default=None, min_length=1, max_length=240)


class ReplyButton(_Content):
    id: str = Field(min_length=1, max_length=BUTTON_ID_MAX)
    title: Title = Field(min_length=1, max_length=BUTTON_TITLE_MAX)


class ButtonsContent(_Content):
    kind: Literal["buttons"]
    body: str = Field(min_length=1, max_length=BUTTONS_BODY_MAX)
    header: str | None = Field(default=None, min_length=1, max_length=HEADER_MAX)
    footer: str | None = Field(default=None, min_length=1, max_length=FOOTER_MAX)
    buttons: list[ReplyButton] = Field(min_length=BUTTONS_MIN, max_length=BUTTONS_MAX)

    @field_validator("buttons")
    @classmethod
    def _unique_ids(cls, buttons: list[ReplyButton]) -> list[ReplyButton]:
        ids = [b.id for b in buttons]
        if len(set(ids)) != len(ids):
            raise ValueError("button ids must be unique")
        return buttons


class ListRow(_Content):
    id: str = Field(min_length=1, max_length=ROW_ID_MAX)
    title: Title = Field(min_length=1, max_length=ROW_TITLE_MAX)
    description: str | None = Field(default=None, max_length=ROW_DESCRIPTION_MAX)


class ListSection(_Content):
    title: str | None = Field(default=None, min_length=1, max_length=SECTION_TITLE_MAX)
    rows: list[ListRow] = Field(min_length=1, max_length=LIST_ROWS_MAX)


class ListContent(_Content):
    kind: Literal["list"]
    body: str = Field(min_length=1, max_length=LIST_BODY_MAX)
    button: str = Field(min_length=1, max_length=LIST_BUTTON_MAX)
    header: str | None = Field(default=None, min_length=1, max_length=HEADER_MAX)
    footer: str | None = Field(default=None, min_length=1, max_length=FOOTER_MAX)
    sections: list[ListSection] = Field(min_length=1, max_length=LIST_SECTIONS_MAX)

    @field_validator("sections")
    @classmethod
    def _sections_rules(cls, sections: list[ListSection]) -> list[ListSection]:
        rows = [row for section in sections for row in section.rows]
        if len(rows) > LIST_ROWS_MAX:
            raise ValueError(f"at most {LIST_ROWS_MAX} rows in total across sections, got {len(rows)}")
        ids = [row.id for row in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("row ids must be unique across sections")
        if len(sections) > 1:
            missing = [str(i) for i, s in enumerate(sections) if s.title is None]
            if missing:
                raise ValueError(
                    "a title is required on every section when there is more than one section "
                    f"(missing on section {', '.join(missing)})"
                )
        return sections


InteractiveContent = Annotated[ButtonsContent | ListContent, Field(discriminator="kind")]


# Meta's template language codes: a language, optionally with a region ("en", "fil", "en_US", "pt_BR").
_TEMPLATE_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,4})?")
# WhatsApp Manager's template names: lowercase letters, digits and underscores.
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]+")


BODY_PARAMETER_LIMIT = 32_768
BODY_PARAMETER_LIMIT_WITH_OTHERS = 1024


class TemplateContent(_Content):
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    # Sent to WhatsApp as given: refused here when it could not be (nested too deeply to serialize, NaN).
    components: Annotated[list[dict[str, Any]] | None, AfterValidator(storable_json)] = None
    body_parameters: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _template_name(cls, value: str) -> str:
        if not _TEMPLATE_NAME.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a template name: WhatsApp's are lowercase letters, digits and underscores"
            )
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str) -> str:
        if not _TEMPLATE_LANGUAGE.fullmatch(value):
            raise ValueError(f"'{value}' is not a WhatsApp language code: use one such as en, en_US or pt_BR")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> TemplateContent:
        if self.body_parameters is None:
            return self
        if self.components is not None and any(c.get("type") == "body" for c in self.components):
            raise ValueError("give body parameters either in 'bodyParameters' or in a body component")
        # WhatsApp's limits for a body's text parameter: 32,768 characters, 1,024 when the template has other
        # components (a header, buttons).
        limit = BODY_PARAMETER_LIMIT if not self.components else BODY_PARAMETER_LIMIT_WITH_OTHERS
        for number, parameter in enumerate(self.body_parameters, start=1):
            if len(parameter) > limit:
                raise ValueError(f"body parameter {number} is over {limit} characters, WhatsApp's limit here")
        return self


WAMID_PREFIX = "wamid."
# Our message ids as stored in a reaction's content (the API stores them in this canonical form); the same
# pattern is in whatsapp/delivery.py's REACTED_WAMID_SQL.
_OUR_MESSAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


_ONE_GRAPHEME = regex.compile(r"\X")
# ℹ️ is a letter to Unicode (category Ll), and an emoji.
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")


def _looks_like_emoji(text: str) -> bool:
    """One character as people see it (a grapheme cluster: skin tones, flags and ZWJ families are one), with no
    letters, numbers (but a keycap's), spaces or control characters: WhatsApp refuses a reaction with anything
    but one emoji. Symbols unknown to this Python's Unicode tables (newer emoji) pass."""
    if text and not _ONE_GRAPHEME.fullmatch(text):
        return False
    if text and unicodedata.category(text[0])[0] == "M":  # a combining mark alone: nothing to show
        return False
    keycap = "\u20e3" in text  # 1️⃣ is "1", U+FE0F, U+20E3; #️⃣ and *️⃣ too
    pictures = 0
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "L" and _PICTOGRAPHIC.fullmatch(char):
            pictures += 1
            continue
        if category[0] in "LZ" or category in ("Cc", "Co"):  # Co: a private-use character, no emoji anywhere
            return False
        if (category[0] == "N" or char.isascii()) and not keycap:  # "#", "+", "1" alone
            return False
        # Cn: a code point this Python's tables do not know yet (an emoji newer than them); ‼️ and 〽️ are "P".
        pictures += category in ("So", "Sm", "Cn") or category[0] == "P"
    # Joiners, variation selectors and skin-tone modifiers alone show nothing of their own.
    return not text or pictures > 0 or keycap


class ReactionContent(_Content):
    message_id: str = Field(min_length=1)
    """The message reacted to: our message id (a UUID, sent as that message's WhatsApp id) or a WhatsApp id."""
    emoji: str = Field(max_length=16)
    """One emoji; empty removes the reaction."""

    @field_validator("emoji")
    @classmethod
    def _one_emoji(cls, value: str) -> str:
        if not _looks_like_emoji(value):
            raise ValueError(f"'{value}' is not one emoji (an empty one removes the reaction)")
        return value


class LocationContent(_Content):
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def as_json(self) -> dict[str, Any]:
        """``{"type", "content"}`` as stored and sent over our API."""
        content: _Content = getattr(self, "content")  # noqa: B009 - every subclass defines it
        return {"type": getattr(self, "type"), "content": content.as_content()}  # noqa: B009


class TextMessage(_Message):
    type: Literal["text"]
    content: TextContent


class ImageMessage(_Message):
    type: Literal["image"]
    content: ImageContent


class VideoMessage(_Message):
    type: Literal["video"]
    content: VideoContent


class AudioMessage(_Message):
    type: Literal["audio"]
    content: AudioContent


class DocumentMessage(_Message):
    type: Literal["document"]
    content: DocumentContent


class StickerMessage(_Message):
    type: Literal["sticker"]
    content: StickerContent


class InteractiveMessage(_Message):
    type: Literal["interactive"]
    content: InteractiveContent


class TemplateMessage(_Message):
    type: Literal["template"]
    content: TemplateContent


class ReactionMessage(_Message):
    type: Literal["reaction"]
    content: ReactionContent


class LocationMessage(_Message):
    type: Literal["location"]
    content: LocationContent


MediaMessage = ImageMessage | VideoMessage | AudioMessage | DocumentMessage | StickerMessage

OutboundMessage = Annotated[
    TextMessage
    | ImageMessage
    | VideoMessage
    | AudioMessage
    | DocumentMessage
    | StickerMessage
    | InteractiveMessage
    | TemplateMessage
    | ReactionMessage
    | LocationMessage,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)


class OutboundValidationError(ValueError):
    """The message cannot be sent as given; ``details`` lists ``{"field", "message"}`` per problem."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        self.details = details
        summary = "; ".join(f"{d['field'] or '(message)'}: {d['message']}" for d in details)
        super().__init__(f"invalid outbound message: {summary}")


_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _field_path(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    is_tag_error = error.get("type") in _TAG_ERRORS
    # drop the discriminator tags pydantic puts into the location: ("text", "content", "body")
    if loc and loc[0] in MESSAGE_TYPES:
        loc = loc[1:]
    if len(loc) >= 2 and loc[0] == "content" and loc[1] in ("buttons", "list") and not (is_tag_error and len(loc) == 2):
        loc = [loc[0], *loc[2:]]
    if is_tag_error:
        loc.append("kind" if loc == ["content"] else "type")
    return ".".join(loc)


def _message_text(error: Any) -> str:
    kind = error.get("type")
    ctx = error.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"unknown value {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown field, or not allowed for this message type"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def parse_outbound(obj: object) -> OutboundMessage:
    """Validate ``obj`` as an outbound message or raise `OutboundValidationError`."""
    if not isinstance(obj, dict):
        raise OutboundValidationError([{"field": "", "message": "a message must be a JSON object"}])
    try:
        return _ADAPTER.validate_python(obj)
    except ValidationError as exc:
        details = [
            {"field": _field_path(error), "message": _message_text(error)} for error in exc.errors(include_url=False)
        ]
        raise OutboundValidationError(details) from None


def is_template(msg: OutboundMessage) -> bool:
    """Templates are the only messages allowed outside the 24-hour window."""
    return isinstance(msg, TemplateMessage)


def reaction_target(msg: OutboundMessage) -> uuid.UUID | None:
    """Our id of the message a reaction answers, when it names one of ours rather than a WhatsApp id (``wamid.``):
    `to_graph_payload` then needs that message's WhatsApp id (``reaction_to``)."""
    if not isinstance(msg, ReactionMessage) or _OUR_MESSAGE_ID.fullmatch(msg.content.message_id) is None:
        return None
    return uuid.UUID(msg.content.message_id)


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def _type_object(msg: OutboundMessage, reaction_to: str | None) -> dict[str, Any]:
    if isinstance(msg, TextMessage):
        return {"body": msg.content.body, "preview_url": msg.content.preview_url}
    if isinstance(msg, ImageMessage | VideoMessage | AudioMessage | DocumentMessage | StickerMessage):
        content = msg.content
        media: dict[str, Any] = {"link": content.url} if content.url is not None else {"id": content.id}
        caption = getattr(content, "caption", None)
        if caption is not None:
            media["caption"] = caption
        filename = getattr(content, "filename", None)
        if filename is not None:
            media["filename"] = filename
        return media
    if isinstance(msg, InteractiveMessage):
        return _interactive_object(msg.content)
    if isinstance(msg, TemplateMessage):
        template: dict[str, Any] = {"name": msg.content.name, "language": {"code": msg.content.language}}
        components = [dict(c) for c in msg.content.components or []]
        if msg.content.body_parameters is not None:
            components.append(
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in msg.content.body_parameters],
                }
            )
        if components:
            template["components"] = components
        return template
    if isinstance(msg, ReactionMessage):
        return {"message_id": reaction_to or msg.content.message_id, "emoji": msg.content.emoji}
    location: dict[str, Any] = {"latitude": msg.content.latitude, "longitude": msg.content.longitude}
    if msg.content.name is not None:
        location["name"] = msg.content.name
    if msg.content.address is not None:
        location["address"] = msg.content.address
    return location


def _interactive_object(content: ButtonsContent | ListContent) -> dict[str, Any]:
    result: dict[str, Any]
    if isinstance(content, ButtonsContent):
        result = {
            "type": "button",
            "body": {"text": content.body},
            "action": {
                "buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in content.buttons]
            },
        }
    else:
        sections: list[dict[str, Any]] = []
        for section in content.sections:
            rows: list[dict[str, Any]] = []
            for row in section.rows:
                item = {"id": row.id, "title": row.title}
                if row.description is not None:
                    item["description"] = row.description
                rows.append(item)
            entry: dict[str, Any] = {"rows": rows}
            if section.title is not None:
                entry = {"title": section.title, "rows": rows}
            sections.append(entry)
        result = {
            "type": "list",
            "body": {"text": content.body},
            "action": {"button": content.button, "sections": sections},
        }
    if content.header is not None:
        result["header"] = {"type": "text", "text": content.header}
    if content.footer is not None:
        result["footer"] = {"text": content.footer}
    return result


def to_graph_payload(
    msg: OutboundMessage,
    *,
    to: str | None = None,
    recipient: str | None = None,
    reply_to: str | None = None,
    reaction_to: str | None = None,
) -> dict[str, Any]:
    """The exact ``POST /{version}/{phone-number-id}/messages`` body for ``msg``.

    ``to`` is a phone number (sent as digits only); ``recipient`` a business-scoped user id, for customers
    whose phone number is unknown. ``reply_to`` quotes an earlier WhatsApp message id. ``reaction_to`` is the
    WhatsApp id of the message a reaction answers when its ``messageId`` is ours (see `reaction_target`):
    WhatsApp knows messages only by their WhatsApp ids.
    """
    if reaction_target(msg) is not None and reaction_to is None:
        raise ValueError("a reaction to one of our messages needs that message's WhatsApp id ('reaction_to')")
    if to is None and recipient is None:
        raise ValueError("either 'to' (phone number) or 'recipient' (BSUID) is required")
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to is not None:
        digits = _digits(to)
        if not digits:
            raise ValueError(f"'to' must contain a phone number, got {to!r}")
        payload["to"] = digits
    if recipient is not None:
        payload["recipient"] = recipient
    payload["type"] = msg.type
    payload[msg.type] = _type_object(msg, reaction_to)
    if reply_to is not None:
        payload["context"] = {"message_id": reply_to}
    return payload
