"""Chatbot statistics after real conversations: two customers talk to the demo bot through the whole loop
(simulator → signed webhook → queue → engine → outbox → simulator)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

ALICE = {"from": "+15551234567", "name": "Alice"}
BOB = {"from": "+15557654321", "name": "Bob"}


async def sent_to(loop: Any, digits: str, count: int, waiter: Any) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        items = [m for m in await loop.sent() if m["to"] == digits]
        return items if len(items) >= count else None

    result = await waiter(enough, limit=15, message=f"{count} messages to {digits}")
    assert isinstance(result, list)
    return result


async def alice_orders(loop: Any, waiter: Any) -> None:
    await loop.say(ALICE | {"text": "hi"})
    await sent_to(loop, "15551234567", 2, waiter)
    await loop.say(ALICE | {"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await sent_to(loop, "15551234567", 3, waiter)
    await loop.say(ALICE | {"listReply": {"id": "margherita", "title": "Margherita"}})
    await sent_to(loop, "15551234567", 4, waiter)
    await loop.say(ALICE | {"text": "2"})
    sent = await sent_to(loop, "15551234567", 5, waiter)
    assert sent[4]["payload"]["text"]["body"].startswith("Thanks Alice! Your order of 2 x Margherita")


async def bob_asks_for_a_human(loop: Any, waiter: Any) -> None:
    await loop.say(BOB | {"text": "hello"})
    await sent_to(loop, "15557654321", 2, waiter)
    await loop.say(BOB | {"buttonReply": {"id": "human", "title": "Talk to a human"}})
    sent = await sent_to(loop, "15557654321", 3, waiter)
    assert "a member of our team will answer you" in sent[2]["payload"]["text"]["body"]


async def test_stats_after_two_real_conversations(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    await asyncio.gather(alice_orders(loop, waiter), bob_asks_for_a_human(loop, waiter))

    async def both_ended() -> bool:
        with psycopg.connect(database_url) as conn:
            row = conn.execute('SELECT count(*) FROM conversation_contexts WHERE NOT "isActive"').fetchone()
        return row == (2,)

    await waiter(both_ended, message="both contexts ended")
    response = await client.get(f"/api/chatbots/{loop.chatbot_id}/stats")
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["started"] == 2 and stats["completed"] == 1 and stats["handedOff"] == 1 and stats["active"] == 0
    nodes = stats["nodes"]
    for shared in ("start", "welcome", "menu"):
        assert nodes[shared] == {"visits": 2, "dropOffs": 0}, shared
    for alice_only in ("pizza_list", "quantity", "is_bulk", "summary", "done"):
        assert nodes[alice_only] == {"visits": 1, "dropOffs": 0}, alice_only
    assert nodes["human"] == {"visits": 1, "dropOffs": 0}
    assert "bulk_discount" not in nodes and "gave_up" not in nodes and "hours" not in nodes

    # The list shows no conversation running any more; a third customer starts one.
    listed = (await client.get("/api/chatbots")).json()["items"]
    assert [(c["id"], c["runningConversations"]) for c in listed] == [(loop.chatbot_id, 0)]
    await loop.say({"from": "+15553334444", "name": "Cleo", "text": "hi"})
    await sent_to(loop, "15553334444", 2, waiter)
    listed = (await client.get("/api/chatbots")).json()["items"]
    assert listed[0]["runningConversations"] == 1
    stats = (await client.get(f"/api/chatbots/{loop.chatbot_id}/stats")).json()
    assert stats["started"] == 3 and stats["active"] == 1 and stats["nodes"]["menu"]["visits"] == 3

    # Deleting the chatbot removes its contexts (and keeps the conversations and their messages).
    with psycopg.connect(database_url) as conn:
        messages_before = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert (await client.delete(f"/api/chatbots/{loop.chatbot_id}")).status_code == 204
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM conversation_contexts").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == messages_before
    assert (await client.get(f"/api/chatbots/{loop.chatbot_id}/stats")).status_code == 404
