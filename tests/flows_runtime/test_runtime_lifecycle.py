"""How contexts end and start again when the runner drives published chatbots through the whole loop:
session timeout, restart keywords, a graph edited under a waiting context, and jump cycles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from .runtimekit import bodies, contexts, edge, node, outbound_settled, publish_bot, scalar

WELCOME = "Hi Alice! Welcome to Pizza Place \U0001f355"
MENU = "What would you like to do?"
DEMO_RESTART_KEYWORDS = ["menu", "restart", "start over", "cancel", "cancel my order", "cancel the order", "cancel order",
                         "cancel it", "please cancel my order"]
# The demo's sessionTimeoutMessage, for Alice.
BACK = "It has been a while since we heard from you, Alice, so what you had started was dropped."


async def _waiting_at_the_pizza_list_too_long(
    loop: Any, client: httpx.AsyncClient, database_url: str, **settings: Any
) -> Any:
    """The demo with a 5-minute session timeout (and `settings`), a customer at its pizza list, and 6 minutes
    gone by (their context's last activity moved back): returns the pizza list message."""
    demo = (await client.get(f"/api/chatbots/{loop.chatbot_id}")).json()
    patched = await client.patch(f"/api/chatbots/{loop.chatbot_id}",
                                 json={"metadata": demo["metadata"] | {"sessionTimeoutMinutes": 5} | settings})
    assert patched.status_code == 200, patched.text
    assert (await client.post(f"/api/chatbots/{loop.chatbot_id}/publish")).status_code == 200
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    pizzas = (await loop.wait_sent(3))[2]
    assert bodies([pizzas])[0] == "Which pizza would you like?"
    (old,) = contexts(database_url)
    assert old["currentNodeId"] == "pizza_list" and old["isActive"]
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)).isoformat()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute('UPDATE conversation_contexts SET "engineState" = "engineState" || %s WHERE id = %s',
                     (Jsonb({"lastActivityAt": stale}), old["id"]))
    return pizzas


async def test_session_timeout_ends_the_old_context_and_starts_afresh(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    await _waiting_at_the_pizza_list_too_long(loop, client, database_url)
    (old,) = contexts(database_url)

    # This answer (a pizza's name, typed) would pick it in the old context; after the timeout it starts the bot
    # again instead, saying why first. (A tap on the list would be taken there: see the next test.)
    await loop.say({"text": "Margherita"})
    sent = await loop.wait_sent(6)
    assert bodies(sent)[3:] == [BACK, WELCOME, MENU]
    ended, fresh = contexts(database_url)
    assert ended["id"] == old["id"]
    assert ended["isActive"] is False and ended["engineState"]["endedReason"] == "timeout"
    assert ended["nodeHistory"] == old["nodeHistory"]
    assert "pizza" not in ended["variables"]
    assert fresh["isActive"] is True and fresh["currentNodeId"] == "menu"
    assert fresh["nodeHistory"] == ["start", "is_cancel", "is_thanks", "welcome", "menu"]
    assert fresh["conversationId"] == old["conversationId"] and fresh["chatbotId"] == loop.chatbot_id
    assert "pizza" not in fresh["variables"] and "menu_choice" not in fresh["variables"]

    # A context that was active recently is left alone.
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    assert bodies(await loop.wait_sent(7))[6] == "Which pizza would you like?"
    assert len(contexts(database_url)) == 2

    stats = (await client.get(f"/api/chatbots/{loop.chatbot_id}/stats")).json()
    assert stats["started"] == 2 and stats["active"] == 1 and stats["completed"] == 0
    assert stats["nodes"]["pizza_list"] == {"visits": 2, "dropOffs": 1}  # the timed-out one stopped there


async def test_a_customer_back_after_the_timeout_is_told_why_the_bot_starts_over(
    loop: Any, client: httpx.AsyncClient, database_url: str
) -> None:
    notice = "Welcome back {{contact.name | there}}! Your last chat ended after a while without a reply."
    await _waiting_at_the_pizza_list_too_long(loop, client, database_url, sessionTimeoutMessage=notice)
    await loop.say({"text": "Margherita"})  # meant for the list they were shown
    sent = await loop.wait_sent(6)
    assert bodies(sent)[3:] == [
        "Welcome back Alice! Your last chat ended after a while without a reply.", WELCOME, MENU
    ]
    ended, fresh = contexts(database_url)
    assert ended["engineState"]["endedReason"] == "timeout" and fresh["currentNodeId"] == "menu"

    # A customer who comes back with a greeting asked for the start: no notice.
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(7)
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)).isoformat()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute('UPDATE conversation_contexts SET "engineState" = "engineState" || %s WHERE id = %s',
                     (Jsonb({"lastActivityAt": stale}), fresh["id"]))
    await loop.say({"text": "Hi!"})
    assert bodies(await loop.wait_sent(9))[7:] == [WELCOME, MENU]


async def test_the_timeout_message_of_a_chatbot_started_by_keyword_comes_before_the_default_chatbots_greeting(
    loop: Any, client: httpx.AsyncClient, database_url: str
) -> None:
    """A second chatbot, started by its keyword, times out; the customer's late answer goes to the default one (the
    demo), after the second chatbot's own message about the timeout."""
    nodes = [node("start", "start", triggerKeywords=["survey"]),
             node("q", "question", text="How many stars (1-5)?", variable="stars", validation={"type": "number"})]
    await publish_bot(client, "Survey", nodes, [edge("start", "q")],
                      metadata={"sessionTimeoutMinutes": 5, "sessionTimeoutMessage": "The survey timed out, sorry!"})
    await loop.say({"text": "survey"})
    assert bodies(await loop.wait_sent(1)) == ["How many stars (1-5)?"]
    (survey,) = contexts(database_url)
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)).isoformat()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute('UPDATE conversation_contexts SET "engineState" = "engineState" || %s WHERE id = %s',
                     (Jsonb({"lastActivityAt": stale}), survey["id"]))
    await loop.say({"text": "4"})
    assert bodies(await loop.wait_sent(4))[1:] == ["The survey timed out, sorry!", WELCOME, MENU]


async def test_a_tap_on_the_prompt_a_timed_out_context_waited_on_goes_on_from_there(
    loop: Any, client: httpx.AsyncClient, database_url: str
) -> None:
    pizzas = await _waiting_at_the_pizza_list_too_long(loop, client, database_url)
    # The customer comes back and picks a pizza on the list they were shown: that is their choice, not a greeting.
    await loop.say({"listReply": {"id": "margherita", "title": "Margherita"}, "contextMessageId": pizzas["wamid"]})
    sent = await loop.wait_sent(4)
    assert bodies(sent)[3] == "How many Margherita pizzas would you like? (1-10)"
    ended, fresh = contexts(database_url)
    assert ended["engineState"]["endedReason"] == "timeout" and fresh["isActive"] is True
    assert fresh["nodeHistory"] == ["pizza_list", "quantity"] and fresh["variables"]["pizza"] == "Margherita"


async def test_running_conversations_use_the_published_graph_not_the_draft(
    loop: Any, client: httpx.AsyncClient, database_url: str
) -> None:
    demo = (await client.get(f"/api/chatbots/{loop.chatbot_id}")).json()
    nodes = [dict(n, data=dict(n["data"], text="Hello {{contact.name}}, this is the draft")) if n["id"] == "welcome"
             else n for n in demo["nodes"]]
    assert (await client.patch(f"/api/chatbots/{loop.chatbot_id}", json={"nodes": nodes})).status_code == 200

    await loop.say({"from": "+15552220001", "text": "hi"})
    assert bodies(await loop.wait_sent(2))[0] == WELCOME
    assert (await client.post(f"/api/chatbots/{loop.chatbot_id}/publish")).status_code == 200
    await loop.say({"from": "+15552220002", "text": "hi"})
    assert bodies(await loop.wait_sent(4))[2] == "Hello Alice, this is the draft"


async def test_running_conversations_use_the_published_settings_not_the_drafts(
    loop: Any, client: httpx.AsyncClient
) -> None:
    demo = (await client.get(f"/api/chatbots/{loop.chatbot_id}")).json()
    assert demo["publishedMetadata"]["restartKeywords"] == DEMO_RESTART_KEYWORDS
    draft = demo["metadata"] | {"restartKeywords": ["again"]}
    saved = await client.patch(f"/api/chatbots/{loop.chatbot_id}", json={"metadata": draft})
    assert saved.status_code == 200 and saved.json()["publishedMetadata"]["restartKeywords"] == DEMO_RESTART_KEYWORDS

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"text": "menu"})  # still the published restart keyword
    assert bodies(await loop.wait_sent(4))[2:] == [WELCOME, MENU]

    published = (await client.post(f"/api/chatbots/{loop.chatbot_id}/publish")).json()
    assert published["publishedMetadata"]["restartKeywords"] == ["again"]
    await loop.say({"text": "again"})
    assert bodies(await loop.wait_sent(6))[4:] == [WELCOME, MENU]


async def test_restart_keyword_mid_flow_starts_over(loop: Any, database_url: str, waiter: Any) -> None:
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "veggie", "title": "Veggie"}})
    assert bodies(await loop.wait_sent(4))[3] == "How many Veggie pizzas would you like? (1-10)"

    await loop.say({"text": "  MENU "})  # the question would reject it; the restart keyword wins
    sent = await loop.wait_sent(6)
    assert bodies(sent)[4:] == [WELCOME, MENU]
    old, new = contexts(database_url)
    assert old["isActive"] is False and old["engineState"]["endedReason"] == "restart"
    assert old["nodeHistory"][-1] == "quantity" and old["variables"]["pizza"] == "Veggie"
    assert new["isActive"] is True and new["currentNodeId"] == "menu"
    assert new["nodeHistory"] == ["start", "is_cancel", "is_thanks", "welcome", "menu"]
    assert "pizza" not in new["variables"]
    async def drained() -> bool:
        return outbound_settled(database_url)

    await waiter(drained, message="outbox drained")
    assert len(await loop.sent()) == 6  # and no retry prompt for "menu"


async def test_a_context_on_a_deleted_node_ends_quietly_and_the_next_message_starts_over(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    nodes = [node("start", "start", triggerKeywords=["survey"]),
             node("ask", "buttons", text="Did you like it?", buttons=[{"id": "yes", "title": "Yes"},
                                                                       {"id": "no", "title": "No"}]),
             node("thanks", "end", text="Thanks!")]
    edges = [edge("start", "ask"), edge("ask", "thanks", "yes"), edge("ask", "thanks", "no")]
    bot = await publish_bot(client, "Survey", nodes, edges)

    await loop.say({"text": "survey"})
    assert bodies(await loop.wait_sent(1)) == ["Did you like it?"]
    (waiting,) = contexts(database_url)
    assert waiting["chatbotId"] == bot["id"] and waiting["currentNodeId"] == "ask"

    # The operator replaces the buttons node by a question and republishes.
    edited = [nodes[0], node("ask2", "question", text="Rate us from 1 to 5", variable="rating",
                              validation={"type": "number", "min": 1, "max": 5}), nodes[2]]
    response = await client.patch(f"/api/chatbots/{bot['id']}", json={
        "nodes": edited, "edges": [edge("start", "ask2"), edge("ask2", "thanks")], "status": "active"})
    assert response.status_code == 200, response.text
    assert [n["id"] for n in response.json()["publishedNodes"]] == ["start", "ask2", "thanks"]

    await loop.say({"buttonReply": {"id": "yes", "title": "Yes"}})

    async def ended() -> object:
        (context,) = contexts(database_url)
        return not context["isActive"] and outbound_settled(database_url) and context

    context = await waiter(ended, message="the stale context ended")
    assert isinstance(context, dict)
    assert context["engineState"]["endedReason"] == "node_missing"
    assert len(await loop.sent()) == 1  # silently
    assert scalar(database_url, "SELECT count(*) FROM messages WHERE direction = 'inbound'") == 2

    await loop.say({"text": "survey"})
    assert bodies(await loop.wait_sent(2))[1] == "Rate us from 1 to 5"
    await loop.say({"text": "5"})
    assert bodies(await loop.wait_sent(3))[2] == "Thanks!"
    old, new = contexts(database_url)
    assert old["id"] == context["id"]
    assert new["isActive"] is False and new["engineState"]["endedReason"] == "completed"
    assert new["variables"]["rating"] == 5 and new["nodeHistory"] == ["start", "ask2", "thanks"]


async def test_a_pure_jump_cycle_ends_with_step_limit(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    nodes = [node("start", "start", triggerKeywords=["spin"]), node("hello", "message", text="Spinning"),
             node("j1", "jump", targetNodeId="j2"), node("j2", "jump", targetNodeId="j1")]
    await publish_bot(client, "Spinner", nodes, [edge("start", "hello"), edge("hello", "j1")])

    await loop.say({"text": "spin"})

    async def ended() -> object:
        rows = contexts(database_url)
        return rows and not rows[0]["isActive"] and outbound_settled(database_url) and rows[0]

    context = await waiter(ended, message="the context ended")
    assert isinstance(context, dict)
    assert context["engineState"]["endedReason"] == "step_limit"
    assert bodies(await loop.sent()) == ["Spinning"]
    assert set(context["nodeHistory"]) == {"start", "hello", "j1", "j2"}

    # The conversation goes on: the next trigger starts a fresh context that ends the same way.
    await loop.say({"text": "spin"})
    await loop.wait_sent(2)

    async def two_ended() -> object:
        rows = contexts(database_url)
        return len(rows) == 2 and not rows[1]["isActive"] and outbound_settled(database_url)

    await waiter(two_ended, message="the second context ended")
    assert contexts(database_url)[1]["engineState"]["endedReason"] == "step_limit"


async def test_a_jump_cycle_through_a_message_sends_at_most_ten_messages(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    nodes = [node("start", "start", triggerKeywords=["loop"]), node("say", "message", text="Again"),
             node("j1", "jump", targetNodeId="j2"), node("j2", "jump", targetNodeId="say")]
    await publish_bot(client, "Looper", nodes, [edge("start", "say"), edge("say", "j1")])

    await loop.say({"text": "loop"})

    async def ended() -> object:
        rows = contexts(database_url)
        return rows and not rows[0]["isActive"] and outbound_settled(database_url) and rows[0]

    context = await waiter(ended, message="the context ended")
    assert isinstance(context, dict)
    assert context["engineState"]["endedReason"] == "step_limit"
    outbound = scalar(database_url, "SELECT count(*) FROM messages WHERE direction = 'outbound'")
    sent = await loop.sent()
    assert 1 <= len(sent) == outbound <= 10
    assert set(bodies(sent)) == {"Again"}
