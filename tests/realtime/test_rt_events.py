from __future__ import annotations

import datetime as dt
import json
import uuid

from whatsapp_builder.conversations.models import MessageStatus
from whatsapp_builder.realtime import events


def test_rooms_and_names() -> None:
    cid = uuid.uuid4()
    assert events.INBOX_ROOM == "inbox"
    assert events.conversation_room(cid) == f"conversation:{cid}"
    assert events.conversation_room(str(cid)) == f"conversation:{cid}"
    assert events.EVENT_NAMES == (
        "message:created", "message:status", "conversation:updated", "context:updated", "conversation:deleted"
    )
    gone = events.conversation_deleted(cid, None)
    assert (gone.name, gone.payload, gone.rooms) == (
        "conversation:deleted", {"id": str(cid), "mergedInto": None}, ("inbox", f"conversation:{cid}")
    )


def test_builders_address_inbox_and_conversation_with_json_payloads() -> None:
    cid, mid = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    message = {
        "id": mid,
        "conversationId": cid,
        "status": MessageStatus.PENDING,
        "timestamp": now,
        "content": {"body": "hi"},
    }
    built = [
        events.message_created(message),
        events.message_status(mid, str(cid), "delivered", "wamid.1", None),
        events.conversation_updated({"id": cid, "lastMessageAt": now, "isHandedOff": False}),
        events.context_updated(
            cid, {"chatbotId": uuid.uuid4(), "currentNodeId": "n1", "variables": {"a": [1]}, "isActive": True}
        ),
    ]
    for event in built:
        assert event.rooms == ("inbox", f"conversation:{cid}")
        assert json.loads(json.dumps(event.payload)) == event.payload  # strictly JSON types
        assert event.payload.get("conversationId", event.payload.get("id")) == str(cid)
    created, status, updated, context = built
    assert created.name == "message:created" and created.payload["timestamp"] == "2025-01-02T03:04:05Z"
    assert created.payload["id"] == str(mid)
    assert created.payload["status"] == "pending"
    assert status.payload == {
        "id": str(mid),
        "conversationId": str(cid),
        "status": "delivered",
        "whatsappMessageId": "wamid.1",
        "error": None,
    }
    assert updated.name == "conversation:updated" and updated.payload["lastMessageAt"] == "2025-01-02T03:04:05Z"
    assert context.name == "context:updated" and context.payload["variables"] == {"a": [1]}
    assert set(context.payload) == {"conversationId", "chatbotId", "currentNodeId", "variables", "isActive"}
