from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import Field, StrictBool, field_validator, model_validator

from whatsapp_builder.conversations.models import MessageAuthor, MessageDirection, MessageStatus, MessageType
from whatsapp_builder.core.schemas import CamelInput, CamelModel, utf8_text
from whatsapp_builder.flows.nesting import cut_deep, json_depth_exceeds
from whatsapp_builder.users.schemas import Name, PhoneNumber, UserOut


class ConversationOut(CamelModel):
    id: uuid.UUID
    last_message: str | None
    last_message_at: dt.datetime | None
    last_customer_message_at: dt.datetime | None
    is_window_open: bool
    is_handed_off: bool = False
    customer_id: uuid.UUID | None = None
    whatsapp_phone_number_id: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    unread_count: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime


class ConversationDetail(ConversationOut):
    participants: list[UserOut]
    has_bot_context: bool = Field(
        default=False,
        description="A chatbot has run here: `GET …/context` answers its context. False: no bot ever ran (that"
        " route answers 404), so there is nothing to ask for until one starts (a `context:updated` event)",
    )


class ConversationCreate(CamelInput):
    """Either `participantIds` (users, an internal conversation), or `customerPhoneNumber` (and optionally
    `customerName`): the connected WhatsApp number's conversation with that customer, found or made."""

    participant_ids: Annotated[list[uuid.UUID] | None, Field(min_length=1, max_length=256)] = None
    customer_phone_number: PhoneNumber | None = None
    customer_name: Name | None = None

    @field_validator("customer_phone_number", mode="before")
    @classmethod
    def _international(cls, value: object) -> object:
        # A number typed without its country code ("5551234567") would be read as one of another country's, and
        # a template sent to a stranger: here, unlike in webhooks (WhatsApp's wa_id has no "+"), ask for it.
        if isinstance(value, str) and not value.strip().startswith(("+", "00")):
            raise ValueError("must start with + and the country code, e.g. +14155550123")
        return value

    @field_validator("customer_name", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> ConversationCreate:
        if (self.participant_ids is None) == (self.customer_phone_number is None):
            raise ValueError("give either participantIds or customerPhoneNumber")
        if self.customer_name is not None and self.customer_phone_number is None:
            raise ValueError("customerName goes with customerPhoneNumber")
        return self


class MessageOut(CamelModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    type: MessageType
    content: Any
    status: MessageStatus
    timestamp: dt.datetime
    whatsapp_message_id: str | None
    error: dict[str, Any] | None
    direction: MessageDirection | None = None
    sent_by: MessageAuthor | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class SendMessage(CamelInput):
    """What an operator sends: `{"type": "text", "content": {"body": "..."}}` and the other kinds (docs/api.md)."""

    type: Annotated[str, Field(min_length=1, max_length=32)]
    content: dict[str, Any]

    @field_validator("content")
    @classmethod
    def _storable_text(cls, content: dict[str, Any]) -> dict[str, Any]:
        # PostgreSQL text holds neither U+0000 nor half a surrogate pair: say where, before the database refuses
        # the whole message with no field named.
        where = _unstorable_text(content, "content")
        if where is not None:
            raise ValueError(f"{where} holds U+0000 or half a surrogate pair, which cannot be stored or sent")
        return content


def _unstorable_text(value: object, where: str) -> str | None:
    if isinstance(value, str):
        return where if "\x00" in value or not utf8_text(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_text(key, where) or _unstorable_text(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{where}.{index}")
            if found:
                return found
    return None


class HandoffUpdate(CamelInput):
    handed_off: StrictBool


class ContextOut(CamelModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    chatbot_id: uuid.UUID
    current_node_id: str
    variables: dict[str, Any]
    node_history: list[str]
    is_active: bool
    ended_reason: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @field_validator("variables")
    @classmethod
    def _shallow_variables(cls, variables: dict[str, Any]) -> dict[str, Any]:
        """Variables stored before HTTP responses were cut to MAX_JSON_DEPTH are cut here: served as they are,
        they could not be serialized (a 500)."""
        return {name: cut_deep(value) if json_depth_exceeds(value) else value for name, value in variables.items()}

    @model_validator(mode="before")
    @classmethod
    def _ended_reason(cls, data: Any) -> Any:
        state = getattr(data, "engine_state", None)
        if isinstance(state, dict) and not getattr(data, "is_active", True):
            return {
                field: getattr(data, field)
                for field in (
                    "id",
                    "conversation_id",
                    "chatbot_id",
                    "current_node_id",
                    "variables",
                    "node_history",
                    "is_active",
                    "created_at",
                    "updated_at",
                )
            } | {"ended_reason": state.get("endedReason")}
        return data
