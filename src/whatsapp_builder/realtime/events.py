"""Real-time events: names, rooms and payload builders.

Payloads are camelCase and JSON-ready, shaped as the REST API shows the same objects (docs/realtime.md). Every
event of a conversation goes to two rooms: `inbox` (every connected operator) and `conversation:<id>` (clients
that opened that conversation); a client in both rooms receives it once.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from whatsapp_builder.core.schemas import api_time

INBOX_ROOM = "inbox"
CONVERSATION_ROOM_PREFIX = "conversation:"

MESSAGE_CREATED = "message:created"
MESSAGE_STATUS = "message:status"
CONVERSATION_UPDATED = "conversation:updated"
CONTEXT_UPDATED = "context:updated"
CONVERSATION_DELETED = "conversation:deleted"

EVENT_NAMES: tuple[str, ...] = (
    MESSAGE_CREATED,
    MESSAGE_STATUS,
    CONVERSATION_UPDATED,
    CONTEXT_UPDATED,
    CONVERSATION_DELETED,
)


@dataclass(frozen=True)
class RealtimeEvent:
    """One event for connected clients: its name, its JSON payload and the rooms it is addressed to."""

    name: str
    payload: dict[str, Any]
    rooms: tuple[str, ...]


def conversation_room(conversation_id: uuid.UUID | str) -> str:
    return f"{CONVERSATION_ROOM_PREFIX}{conversation_id}"


def jsonable(value: Any) -> Any:
    """`value` with UUIDs, datetimes, enums and decimals turned into JSON types (dicts and lists walked)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return api_time(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _rooms(conversation_id: uuid.UUID | str) -> tuple[str, ...]:
    return (INBOX_ROOM, conversation_room(conversation_id))


def message_created(message: Mapping[str, Any]) -> RealtimeEvent:
    """A new message (inbound, or outbound as queued): the same object as an item of GET …/messages."""
    payload: dict[str, Any] = jsonable(message)
    return RealtimeEvent(MESSAGE_CREATED, payload, _rooms(payload["conversationId"]))


def message_status(
    message_id: uuid.UUID | str,
    conversation_id: uuid.UUID | str,
    status: str,
    whatsapp_message_id: str | None,
    error: Any,
) -> RealtimeEvent:
    """A message moved status (pending → sent → delivered → read, or failed with its error)."""
    payload: dict[str, Any] = jsonable(
        {
            "id": message_id,
            "conversationId": conversation_id,
            "status": status,
            "whatsappMessageId": whatsapp_message_id,
            "error": error,
        }
    )
    return RealtimeEvent(MESSAGE_STATUS, payload, _rooms(payload["conversationId"]))


def conversation_updated(conversation: Mapping[str, Any]) -> RealtimeEvent:
    """A conversation changed (last message, window, hand-off): an item of GET /api/conversations."""
    payload: dict[str, Any] = jsonable(conversation)
    return RealtimeEvent(CONVERSATION_UPDATED, payload, _rooms(payload["id"]))


def conversation_deleted(conversation_id: uuid.UUID | str, merged_into: uuid.UUID | str | None) -> RealtimeEvent:
    """A conversation is gone: deleted, or merged into `mergedInto` (a customer's two identities were linked, and
    its messages, bot context and jobs moved there)."""
    payload: dict[str, Any] = jsonable({"id": conversation_id, "mergedInto": merged_into})
    return RealtimeEvent(CONVERSATION_DELETED, payload, _rooms(payload["id"]))


def context_payload(
    conversation_id: uuid.UUID | str,
    *,
    chatbot_id: uuid.UUID | str,
    context_id: uuid.UUID | str,
    current_node_id: str | None,
    variables: Mapping[str, Any],
    node_history: Sequence[str],
    is_active: bool,
    ended_reason: str | None,
    updated_at: dt.datetime,
) -> dict[str, Any]:
    """The documented shape of a `context:updated` payload, wherever the bot's state changed."""
    return {
        "conversationId": str(conversation_id),
        "chatbotId": str(chatbot_id),
        "contextId": str(context_id),
        "currentNodeId": current_node_id,
        "variables": variables,
        "nodeHistory": list(node_history),
        "isActive": is_active,
        "endedReason": ended_reason,
        "updatedAt": api_time(updated_at),
    }


def context_updated(conversation_id: uuid.UUID | str, context: Mapping[str, Any]) -> RealtimeEvent:
    """The bot's state in a conversation changed: `{conversationId, chatbotId, currentNodeId, variables, isActive}`."""
    payload: dict[str, Any] = jsonable({**context, "conversationId": conversation_id})
    return RealtimeEvent(CONTEXT_UPDATED, payload, _rooms(payload["conversationId"]))


# As the database's status_rank(): a message's status only moves up this order.
STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "failed": 3, "read": 4, "played": 5}


class ForwardStatuses:
    """Drops a `message:status` event that would move a message backwards from one this process already
    published. Two transactions can commit in one order and publish in the other (a send recorded as `sent`, a
    status webhook's `delivered` for it right after): the stored status is the higher one, so the later, lower
    event is stale. Remembers the last `limit` messages."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._ranks: OrderedDict[str, int] = OrderedDict()

    def keep(self, events: Sequence[RealtimeEvent]) -> list[RealtimeEvent]:
        kept = []
        for event in events:
            if event.name == MESSAGE_STATUS:
                message_id = str(event.payload.get("id"))
                rank = STATUS_RANK.get(str(event.payload.get("status")), -1)
                if rank < self._ranks.get(message_id, -1):
                    continue
                self._ranks[message_id] = rank
                self._ranks.move_to_end(message_id)
                if len(self._ranks) > self.limit:
                    self._ranks.popitem(last=False)
            kept.append(event)
        return kept
