"""The live inbox: a real Socket.IO client sees the customer's message, the bot's replies and their ticks."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio


async def _client(url: str, token: str | None) -> tuple[socketio.AsyncClient, asyncio.Queue[tuple[str, Any]]]:
    client = socketio.AsyncClient(reconnection=False)
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def record(event: str, data: Any = None) -> None:
        await events.put((event, data))

    client.on("*", record)
    await client.connect(url, auth={"token": token} if token else None, socketio_path="socket.io",
                         transports=["websocket"], wait_timeout=10)
    return client, events


async def _collect(events: asyncio.Queue[tuple[str, Any]], until: Any, limit: float = 15) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + limit
    while not until(seen):
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"events so far: {[e for e, _ in seen]}"
        seen.append(await asyncio.wait_for(events.get(), timeout=remaining))
    return seen


async def test_inbound_replies_and_statuses_reach_a_connected_client(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    client, events = await _client(loop.server.url, api_token)
    try:
        await loop.say({"text": "hi"})

        # Only this test's replies count: statuses of an earlier test's messages may still be arriving.
        def done(seen: list[tuple[str, Any]]) -> bool:
            reply_ids = {d["id"] for d in created if d["direction"] == "outbound"}
            outbound_read = {d["id"] for e, d in seen if e == "message:status" and d["status"] == "read"
                             and d["id"] in reply_ids}
            # ... and the conversation:updated of the read mark on "hi", which goes out after its own commit and
            # may come after the replies' read statuses.
            read_mark = any(e == "conversation:updated" and d["unreadCount"] == 0 for e, d in seen)
            return len(outbound_read) >= 2 and read_mark

        created: list[dict[str, Any]] = []

        async def gather() -> list[tuple[str, Any]]:
            seen: list[tuple[str, Any]] = []
            while not done(seen):
                item = await events.get()
                seen.append(item)
                if item[0] == "message:created":
                    created.append(item[1])
            return seen

        seen = await asyncio.wait_for(gather(), timeout=15)
        names = [e for e, _ in seen]
        inbound = [d for e, d in seen if e == "message:created" and d["direction"] == "inbound"]
        replies = [d for e, d in seen if e == "message:created" and d["direction"] == "outbound"]
        assert inbound and inbound[0]["content"] == {"body": "hi"}
        assert [r["status"] for r in replies] == ["pending", "pending"]
        assert inbound[0]["sentBy"] == "customer" and [r["sentBy"] for r in replies] == ["bot", "bot"]
        assert "conversation:updated" in names and "context:updated" in names
        context = next(d for e, d in seen if e == "context:updated")
        assert context["currentNodeId"] == "menu" and context["isActive"] is True
        assert context["nodeHistory"][-1] == "menu" and context["updatedAt"].endswith("Z")
        stored = (await loop.http.get(
            f"{loop.server.url}/api/conversations/{context['conversationId']}/context",
            headers={"Authorization": f"Bearer {api_token}"})).json()
        assert (stored["id"], stored["updatedAt"], stored["nodeHistory"]) == (
            context["contextId"], context["updatedAt"], context["nodeHistory"])  # the same time, to the µs
        # The bot's reply marks "hi" read: that conversation:updated (unread 0) is newer than the one before it
        # (unread 1), so a client that keeps the newest copy by `updatedAt` does not keep the stale badge.
        updates = [d for e, d in seen if e == "conversation:updated" and d["id"] == inbound[0]["conversationId"]]
        # (Events of different stages may arrive in either order: a client goes by `updatedAt`.)
        read = [u for u in updates if u["unreadCount"] == 0]
        unread = [u for u in updates if u["unreadCount"] == 1]
        assert read and unread
        assert min(u["updatedAt"] for u in read) > max(u["updatedAt"] for u in unread), updates
        statuses = {(d["id"], d["status"]) for e, d in seen if e == "message:status"}
        for reply in replies:
            assert (reply["id"], "sent") in statuses or (reply["id"], "read") in statuses
        # The same message over REST: times written alike, so a client can compare them as strings.
        listed = (await loop.http.get(
            f"{loop.server.url}/api/conversations/{inbound[0]['conversationId']}/messages",
            headers={"Authorization": f"Bearer {api_token}"})).json()["items"]
        by_id = {m["id"]: m for m in listed}
        for live in [inbound[0], *replies]:
            stored = by_id[live["id"]]
            assert (live["timestamp"], live["createdAt"]) == (stored["timestamp"], stored["createdAt"])
            assert set(live) == set(stored)
    finally:
        await client.disconnect()


async def test_a_client_without_a_valid_token_is_refused(loop) -> None:  # type: ignore[no-untyped-def]
    for token in (None, "wab_not-a-token"):
        try:
            client, _ = await _client(loop.server.url, token)
        except socketio.exceptions.ConnectionError:
            continue
        await client.disconnect()
        raise AssertionError("connection was accepted")


async def test_conversation_updated_has_the_same_fields_as_the_inbox_list(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    # Through the live server: another app on the same context would take over its publisher.
    client_socket, events = await _client(loop.server.url, api_token)
    try:
        await loop.say({"text": "hi"})
        seen = await _collect(events, lambda s: any(e == "conversation:updated" for e, _ in s))
        live = next(d for e, d in seen if e == "conversation:updated")
        listed = (await loop.http.get(loop.server.url + "/api/conversations",
                                      headers={"Authorization": f"Bearer {api_token}"})).json()["items"][0]
        assert set(live) == set(listed)
        assert live["customerName"] == "Alice" and live["id"] == listed["id"]
        assert live["createdAt"] == listed["createdAt"]
    finally:
        await client_socket.disconnect()


async def test_events_are_built_only_while_someone_can_hear_them(loop, api_token: str, app_context) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import wait_until

    assert app_context.live() is False  # no client yet, no Redis: nothing to build
    client, events = await _client(loop.server.url, api_token)
    try:
        assert app_context.live() is True
        await loop.say({"text": "hi"})
        await _collect(events, lambda s: any(e == "message:created" for e, _ in s))
    finally:
        await client.disconnect()
    await wait_until(lambda: not app_context.live(), message="the server forgets the client")


async def test_an_operator_taking_over_tells_the_bot_panel_the_bot_stopped(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    import httpx

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)  # the bot waits at the menu
    api = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    socket, events = await _client(loop.server.url, api_token)
    try:
        conversation = (await api.get("/api/conversations")).json()["items"][0]
        taken = await api.post(f"/api/conversations/{conversation['id']}/handoff", json={"handedOff": True})
        assert taken.status_code == 200
        seen = await _collect(events, lambda s: any(e == "context:updated" for e, _ in s))
    finally:
        await socket.disconnect()
        await api.aclose()
    stopped = next(d for e, d in seen if e == "context:updated")
    assert stopped["conversationId"] == conversation["id"] and stopped["isActive"] is False
    assert stopped["endedReason"] == "handoff" and stopped["currentNodeId"] == "menu"
    # The panel's Path and "last change" come from the event as they would from a reload.
    async with httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"}) as api:
        stored = (await api.get(f"/api/conversations/{conversation['id']}/context")).json()
    assert stopped["contextId"] == stored["id"]
    for field in ("nodeHistory", "updatedAt", "variables", "chatbotId"):
        assert stopped[field] == stored[field], field

    # Taking over again (a double click, a retry) changes nothing and announces nothing: the next
    # conversation:updated is the hand-back's.
    socket, events = await _client(loop.server.url, api_token)
    url = f"/api/conversations/{conversation['id']}/handoff"
    try:
        async with httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"}) as api:
            assert (await api.post(url, json={"handedOff": True})).status_code == 200
            assert (await api.post(url, json={"handedOff": False})).status_code == 200
        after = await _collect(events, lambda s: any(e == "conversation:updated" for e, _ in s))
    finally:
        await socket.disconnect()
    assert [d["isHandedOff"] for e, d in after if e == "conversation:updated"] == [False]


async def test_renaming_a_customer_updates_their_conversations_in_the_inbox(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    import httpx

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    api = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    socket, events = await _client(loop.server.url, api_token)
    try:
        conversation = (await api.get("/api/conversations")).json()["items"][0]
        renamed = await api.patch(f"/api/users/{conversation['customerId']}", json={"name": "Alice Cooper"})
        assert renamed.status_code == 200, renamed.text
        seen = await _collect(events, lambda s: any(
            e == "conversation:updated" and d.get("customerName") == "Alice Cooper" for e, d in s))
    finally:
        await socket.disconnect()
        await api.aclose()
    assert any(d["id"] == conversation["id"] for e, d in seen if e == "conversation:updated")


async def test_a_customer_edit_that_changes_nothing_announces_nothing(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    """A PATCH of the values the customer already has moves no conversation's updatedAt and sends no event: the
    next conversation:updated is the real rename's."""
    import httpx

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    api = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    try:
        from tests.conftest import wait_until_async

        async def read() -> Any:  # the read mark on "hi" moves updatedAt: let it land first
            listed = (await api.get("/api/conversations")).json()["items"]
            return listed and listed[0]["unreadCount"] == 0 and listed[0]

        conversation = await wait_until_async(read, message="the bot's read mark")
        assert isinstance(conversation, dict)
        user = f"/api/users/{conversation['customerId']}"
        name = (await api.get(user)).json()["name"]
        socket, events = await _client(loop.server.url, api_token)
        try:
            for same in ({"name": name}, {"avatar": None}, {}):
                assert (await api.patch(user, json=same)).status_code == 200, same
            after = (await api.get(f"/api/conversations/{conversation['id']}")).json()
            assert (await api.patch(user, json={"name": "Alice Cooper"})).status_code == 200
            seen = await _collect(events, lambda s: any(e == "conversation:updated" for e, _ in s))
        finally:
            await socket.disconnect()
    finally:
        await api.aclose()
    assert after["updatedAt"] == conversation["updatedAt"]
    assert [d["customerName"] for e, d in seen if e == "conversation:updated"] == ["Alice Cooper"]


async def test_a_bot_switched_off_mid_conversation_tells_the_bot_panel_it_stopped(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    import httpx

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)  # the bot waits at the menu
    api = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    socket, events = await _client(loop.server.url, api_token)
    try:
        conversation = (await api.get("/api/conversations")).json()["items"][0]
        running = (await api.get(f"/api/conversations/{conversation['id']}/context")).json()
        off = await api.patch(f"/api/chatbots/{loop.chatbot_id}", json={"isActive": False})
        assert off.status_code == 200, off.text
        await loop.say({"text": "are you there?"})
        seen = await _collect(events, lambda s: any(e == "context:updated" for e, _ in s))
        stored = (await api.get(f"/api/conversations/{conversation['id']}/context")).json()
    finally:
        await socket.disconnect()
        await api.aclose()
    stopped = next(d for e, d in seen if e == "context:updated")
    assert stopped["contextId"] == running["id"] and stopped["isActive"] is False
    assert stopped["endedReason"] == "chatbot_unavailable"
    assert (stored["id"], stored["isActive"], stored["updatedAt"]) == (running["id"], False, stopped["updatedAt"])


async def test_deleting_the_chatbot_that_runs_a_conversation_tells_the_bot_panel_it_stopped(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    """The chatbot's contexts go with it (the seed's cascade), so no later turn can announce that they ended: the
    delete does, at once."""
    import httpx

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)  # the bot waits at the menu
    api = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    socket, events = await _client(loop.server.url, api_token)
    try:
        conversation = (await api.get("/api/conversations")).json()["items"][0]
        running = (await api.get(f"/api/conversations/{conversation['id']}/context")).json()
        assert (await api.delete(f"/api/chatbots/{loop.chatbot_id}")).status_code == 204
        seen = await _collect(events, lambda s: any(e == "context:updated" for e, _ in s))
        gone = await api.get(f"/api/conversations/{conversation['id']}/context")
    finally:
        await socket.disconnect()
        await api.aclose()
    stopped = next(d for e, d in seen if e == "context:updated")
    assert stopped["contextId"] == running["id"] and stopped["conversationId"] == conversation["id"]
    assert (stopped["isActive"], stopped["endedReason"]) == (False, "chatbot_unavailable")
    assert stopped["currentNodeId"] == "menu" and stopped["nodeHistory"] == running["nodeHistory"]
    assert stopped["updatedAt"] > running["updatedAt"]
    assert gone.status_code == 404


async def test_a_message_the_bot_ignores_announces_no_context_change(loop, api_token: str) -> None:  # type: ignore[no-untyped-def]
    """A message delivered late (written an hour before "hi", which the bot took) moves nothing: no context:updated
    with a new updatedAt for it (before: one), only the one of the next message the bot takes."""
    import time

    from .test_loop import _signed_post

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    socket, events = await _client(loop.server.url, api_token)
    try:
        late = [{"id": "wamid.LATE1", "timestamp": str(int(time.time()) - 3600), "type": "text", "text": {"body": "x"}}]
        assert (await _signed_post(loop, late)).status_code == 200
        await loop.say({"text": "Opening hours"})
        seen = await _collect(
            events, lambda s: any(e == "context:updated" and "hours" in d["nodeHistory"] for e, d in s)
        )
    finally:
        await socket.disconnect()
    assert len([d for e, d in seen if e == "context:updated"]) == 1
