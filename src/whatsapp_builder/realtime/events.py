"""Real-time events: names, rooms and payload builders (camelCase, JSON-ready, as the REST API shows them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INBOX_ROOM = "inbox"
MESSAGE_CREATED = "message:created"
MESSAGE_STATUS = "message:status"
CONVERSATION_UPDATED = "conversation:updated"
CONTEXT_UPDATED = "context:updated"


@dataclass(frozen=True)
class RealtimeEvent:
    name: str
    payload: dict[str, Any]
    rooms: tuple[str, ...]


def conversation_room(conversation_id: object) -> str:
    return f"conversation:{conversation_id}"


def _rooms(conversation_id: object) -> tuple[str, ...]:
    return (INBOX_ROOM, conversation_room(conversation_id))


def message_created(message: dict[str, Any]) -> RealtimeEvent:
    return RealtimeEvent(MESSAGE_CREATED, message, _rooms(message["conversationId"]))


def message_status(
    message_id: str, conversation_id: str, status: str, whatsapp_message_id: str | None, error: Any
) -> RealtimeEvent:
    payload = {"id": message_id, "conversationId": conversation_id, "status": status,
               "whatsappMessageId": whatsapp_message_id, "error": error}
    return RealtimeEvent(MESSAGE_STATUS, payload, _rooms(conversation_id))


def conversation_updated(conversation: dict[str, Any]) -> RealtimeEvent:
    return RealtimeEvent(CONVERSATION_UPDATED, conversation, _rooms(conversation["id"]))


def context_updated(conversation_id: str, context: dict[str, Any]) -> RealtimeEvent:
    return RealtimeEvent(CONTEXT_UPDATED, context | {"conversationId": conversation_id}, _rooms(conversation_id))
