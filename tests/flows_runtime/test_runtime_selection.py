"""Which chatbot answers a new conversation: trigger keywords first, else the oldest active one; inactive
chatbots never; and with none active the message is stored and nobody answers."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from .runtimekit import bodies, contexts, edge, node, outbound_settled, publish_bot, scalar

WELCOME = "Welcome to Pizza Place"


async def sent_to(loop: Any, digits: str, count: int, waiter: Any) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        items = [m for m in await loop.sent() if m["to"] == digits]
        return items if len(items) >= count else None

    result = await waiter(enough, limit=15, message=f"{count} messages to {digits}")
    assert isinstance(result, list)
    return result


def chatbot_of(database_url: str, phone: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            'SELECT x."chatbotId"::text FROM conversation_contexts x JOIN conversations c ON c.id = x."conversationId"'
            ' JOIN users u ON u.id = c."customerId" WHERE u."phoneNumber" = %s', (phone,)
        ).fetchone()
    assert row is not None, phone
    return str(row[0])


async def test_trigger_keywords_pick_the_chatbot(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    start_end = [edge("start", "bye")]
    support = await publish_bot(client, "Support", [node("start", "start", triggerKeywords=["support"]),
                                                     node("bye", "end", text="Support here")], start_end)
    hidden = await publish_bot(client, "Hidden", [node("start", "start", triggerKeywords=["vip", "hi"]),
                                                   node("bye", "end", text="Secret menu")], start_end,
                               isActive=False)
    assert hidden["isActive"] is False and hidden["status"] == "active"
    # Older than the demo too: if inactive bots were considered, it would also be the default.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE chatbots SET \"createdAt\" = now() - interval '1 year' WHERE id = %s", (hidden["id"],))

    customers = {
        "+15552220001": ("Support please", "Support here"),   # support's trigger, followed by words
        "+15552220002": ("hi", WELCOME),                       # the demo's trigger (the hidden one's too)
        "+15552220003": ("vip", WELCOME),                      # only the inactive bot's trigger: the default
        "+15552220004": ("something else", WELCOME),           # no trigger: the default, the oldest active
    }
    for phone, (text, _) in customers.items():
        await loop.say({"from": phone, "name": "Alice", "text": text})
    for phone, (_, first_reply) in customers.items():
        sent = await sent_to(loop, phone.lstrip("+"), 1, waiter)
        assert first_reply in bodies(sent)[0], (phone, bodies(sent))

    assert chatbot_of(database_url, "+15552220001") == support["id"]
    for phone in ("+15552220002", "+15552220003", "+15552220004"):
        assert chatbot_of(database_url, phone) == loop.chatbot_id, phone
    assert all(c["chatbotId"] != hidden["id"] for c in contexts(database_url))

    # Switching the demo off makes the support bot the default for new conversations.
    assert (await client.patch(f"/api/chatbots/{loop.chatbot_id}", json={"isActive": False})).status_code == 200
    await loop.say({"from": "+15552220005", "name": "Alice", "text": "hi"})
    assert bodies(await sent_to(loop, "15552220005", 1, waiter)) == ["Support here"]
    assert chatbot_of(database_url, "+15552220005") == support["id"]


async def test_without_an_active_chatbot_messages_are_stored_and_unanswered(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    assert (await client.patch(f"/api/chatbots/{loop.chatbot_id}", json={"isActive": False})).status_code == 200
    draft = await client.post("/api/chatbots", json={
        "name": "Draft", "nodes": [node("start", "start"), node("bye", "end", text="Draft reply")],
        "edges": [edge("start", "bye")]})
    assert draft.status_code == 201 and draft.json()["status"] == "draft" and draft.json()["isActive"] is True

    await loop.say({"text": "hi"})

    async def handled() -> bool:
        stored = scalar(database_url, "SELECT count(*) FROM messages WHERE direction = 'inbound'") == 1
        return stored and outbound_settled(database_url)

    await waiter(handled, message="the message stored and its flow job done")
    with psycopg.connect(database_url) as conn:
        content = conn.execute("SELECT type::text, content FROM messages WHERE direction = 'inbound'").fetchone()
        assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (1,)
    assert content == ("text", {"body": "hi"})
    assert scalar(database_url, "SELECT count(*) FROM messages WHERE direction = 'outbound'") == 0
    assert contexts(database_url) == []
    assert await loop.sent() == []
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is False
