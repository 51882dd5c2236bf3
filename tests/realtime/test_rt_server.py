"""The Socket.IO server over a real uvicorn on loopback, with real socketio.AsyncClient clients."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
import socketio
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.conftest import wait_until
from whatsapp_builder.auth.service import find_valid_token, revoke_token
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.realtime import events
from whatsapp_builder.realtime.after_commit import install_event_hooks, queue_event

from .rtkit import Client, RealtimeServer

MakeClient = Callable[[str, Any], Awaitable[Client]]


def insert_conversation(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO conversations DEFAULT VALUES RETURNING id").fetchone()
    assert row is not None
    return str(row[0])


async def test_healthz_and_rest_still_served(realtime_server: RealtimeServer) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=realtime_server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "database": "ok"}
        assert (await http.get("/api/conversations")).status_code == 401


async def test_valid_token_connects(realtime_server: RealtimeServer, make_client: MakeClient, api_token: str) -> None:
    client = await make_client(realtime_server.url, {"token": api_token})
    assert client.sio.connected


@pytest.mark.parametrize("auth", [None, {}, {"token": ""}, {"token": 42}, "wab_notadict", {"token": "wab_" + "x" * 43},
                                  {"token": "wab_\ud800"}, {"token": "wab_\u00e9t\u00e9"}])
async def test_missing_or_bad_token_is_refused(realtime_server: RealtimeServer, auth: Any) -> None:
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(realtime_server.url, auth)
    assert client.connect_errors == [{"message": "unauthorized"}]
    assert not client.sio.connected


async def test_revoked_token_is_refused(
    realtime_server: RealtimeServer, app_context: AppContext, api_token: str
) -> None:
    async with app_context.sessions() as session:
        record = await find_valid_token(session, api_token)
        assert record is not None
        assert await revoke_token(session, record.id)
        await session.commit()
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(realtime_server.url, {"token": api_token})
    assert client.connect_errors == [{"message": "unauthorized"}]


async def test_revoking_a_token_closes_its_open_connections(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str
) -> None:
    """Through this process's API at once; the other connections (another token) stay."""
    import httpx

    async with httpx.AsyncClient(base_url=realtime_server.url, headers={"Authorization": f"Bearer {api_token}"}) as http:
        other = (await http.post("/api/tokens", json={"name": "to revoke"})).json()
        doomed = await make_client(realtime_server.url, {"token": other["token"]})
        kept = await make_client(realtime_server.url, {"token": api_token})
        assert (await http.delete(f"/api/tokens/{other['id']}")).status_code == 204
    # at once: the periodic check of this server (10 s by default) would come later than this limit
    await wait_until(lambda: not doomed.sio.connected, limit=5, message="the revoked token's connection closed")
    assert kept.sio.connected


async def test_a_token_revoked_elsewhere_closes_its_connections_at_the_next_check(
    app_context: AppContext, make_client: MakeClient, api_token: str
) -> None:
    """Revoked through another process (here: straight in the database), the connection goes within
    WAB_REALTIME_TOKEN_CHECK_SECONDS."""
    settings = app_context.settings.model_copy(update={"redis_url": None, "realtime_token_check_seconds": 0.05})
    server = await RealtimeServer(dataclasses.replace(app_context, settings=settings, batchers={})).start()
    try:
        client = await make_client(server.url, {"token": api_token})
        async with app_context.sessions() as session:
            record = await find_valid_token(session, api_token)
            assert record is not None and await revoke_token(session, record.id)
            await session.commit()
        await wait_until(lambda: not client.sio.connected, message="the revoked token's connection closed")
    finally:
        await server.stop()


async def test_a_connected_client_that_emits_connect_is_answered_and_stays(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str, database_url: str
) -> None:
    """python-socketio hands a client's event named "connect" to the connect handler: it was refused there with an
    exception in a background task (no answer, a traceback in the log for every such event)."""
    client = await make_client(realtime_server.url, {"token": api_token})
    assert await client.sio.call("connect", {"a": 1}, timeout=5) is None
    assert await client.sio.call("connect", {"token": api_token}, timeout=5) is None
    conversation_id = insert_conversation(database_url)
    assert await client.call("conversation:join", {"conversationId": conversation_id}) == {"ok": True}
    assert client.sio.connected


async def test_a_payload_holding_nan_is_refused_with_an_answer(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str
) -> None:
    client = await make_client(realtime_server.url, {"token": api_token})
    # The client's json writes NaN as it is (not JSON): the server answered nothing and logged a traceback.
    assert await client.sio.call("conversation:join", float("nan"), timeout=5) == {"ok": False, "error": "invalid"}
    assert await client.sio.call("conversation:join", {"conversationId": float("inf")}, timeout=5) == {
        "ok": False,
        "error": "invalid",
    }
    assert client.sio.connected


async def test_join_and_leave_acks(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str, database_url: str
) -> None:
    client = await make_client(realtime_server.url, {"token": api_token})
    conversation_id = insert_conversation(database_url)
    assert await client.call("conversation:join", {"conversationId": conversation_id}) == {"ok": True}
    assert await client.call("conversation:join", {"conversationId": conversation_id.upper()}) == {"ok": True}
    assert await client.call("conversation:join", {"conversationId": str(uuid.uuid4())}) == {
        "ok": False,
        "error": "not_found",
    }
    for garbage in [
        "nope",
        {"conversationId": "not-a-uuid"},
        {"conversationId": 7},
        {},
        [1, 2],
        None,
        "x" * 10_000,
        {"conversationId": "0" * 500},
    ]:
        assert await client.call("conversation:join", garbage) == {"ok": False, "error": "invalid"}, garbage
        assert await client.call("conversation:leave", garbage) == {"ok": False, "error": "invalid"}, garbage
    assert await client.call("conversation:leave", {"conversationId": conversation_id}) == {"ok": True}
    assert client.sio.connected  # nothing above broke the connection


async def test_rooms_route_events(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str, database_url: str
) -> None:
    watcher = await make_client(realtime_server.url, {"token": api_token})
    inbox_only = await make_client(realtime_server.url, {"token": api_token})
    joined = insert_conversation(database_url)
    other = insert_conversation(database_url)
    assert await watcher.call("conversation:join", {"conversationId": joined}) == {"ok": True}
    realtime = realtime_server.realtime

    # A conversation-only event (no inbox room) reaches just the clients that joined it.
    private = events.RealtimeEvent("context:updated", {"conversationId": joined}, (events.conversation_room(joined),))
    elsewhere = events.RealtimeEvent("context:updated", {"conversationId": other}, (events.conversation_room(other),))
    everyone = events.conversation_updated({"id": joined, "lastMessage": "hi"})
    await realtime.publish([elsewhere, private, everyone])
    # The watcher is in both of `everyone`'s rooms and receives it once, after `private`.
    assert await watcher.next_event() == ("context:updated", {"conversationId": joined})
    assert await watcher.next_event() == ("conversation:updated", {"id": joined, "lastMessage": "hi"})
    assert await inbox_only.next_event() == ("conversation:updated", {"id": joined, "lastMessage": "hi"})

    assert await watcher.call("conversation:leave", {"conversationId": joined}) == {"ok": True}
    marker = events.conversation_updated({"id": other, "lastMessage": "marker"})
    await realtime.publish([private, marker])
    assert await watcher.next_event() == ("conversation:updated", {"id": other, "lastMessage": "marker"})
    assert await inbox_only.next_event() == ("conversation:updated", {"id": other, "lastMessage": "marker"})
    assert watcher.events.empty() and inbox_only.events.empty()


async def test_status_events_never_move_a_message_backwards(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str, database_url: str
) -> None:
    """Two transactions may publish in the other order than they committed (a send recorded as sent, its status
    webhook's delivered): the stale, lower status is not sent to clients."""
    client = await make_client(realtime_server.url, {"token": api_token})
    conversation = insert_conversation(database_url)
    message = str(uuid.uuid4())
    realtime = realtime_server.realtime
    for status in ("delivered", "sent", "read", "delivered"):
        await realtime.publish([events.message_status(message, conversation, status, "wamid.X", None)])
    marker = events.conversation_updated({"id": conversation, "lastMessage": "marker"})
    await realtime.publish([marker])
    seen = [await client.next_event() for _ in range(3)]
    assert [(name, payload.get("status")) for name, payload in seen] == [
        ("message:status", "delivered"),
        ("message:status", "read"),
        ("conversation:updated", None),
    ]


async def test_after_commit_reaches_clients_and_rollback_emits_nothing(
    realtime_server: RealtimeServer, make_client: MakeClient, api_token: str, app_context: AppContext
) -> None:
    client = await make_client(realtime_server.url, {"token": api_token})
    sessions = async_sessionmaker(app_context.engine, expire_on_commit=False)
    hooks = install_event_hooks(sessions, realtime_server.realtime)
    try:
        conversation_id = str(uuid.uuid4())
        committed = events.message_status(uuid.uuid4(), conversation_id, "sent", "wamid.A", None)
        async with sessions() as session:
            queue_event(session, committed)
            await session.commit()
        assert await client.next_event() == ("message:status", committed.payload)

        rolled_back = events.message_status(uuid.uuid4(), conversation_id, "read", "wamid.B", None)
        async with sessions() as session:
            queue_event(session, rolled_back)
            await session.rollback()
        proof = events.message_status(uuid.uuid4(), conversation_id, "delivered", "wamid.C", None)
        async with sessions() as session:
            queue_event(session, proof)
            await session.commit()
        # The first event to arrive after the rollback is the one committed after it.
        assert await client.next_event() == ("message:status", proof.payload)
        await hooks.drain()
        assert client.events.empty()
    finally:
        hooks.remove()
