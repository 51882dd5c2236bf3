"""Delivery against the simulator's injected failures: what is retried, what fails, and the shared rate limit."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.whatsapp.rate_limit import take_send_slot


async def _handed_off_conversation(loop, client: httpx.AsyncClient) -> str:  # type: ignore[no-untyped-def]
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    conversation: str = (await client.get("/api/conversations")).json()["items"][0]["id"]
    await client.post(f"/api/conversations/{conversation}/handoff", json={"handedOff": True})
    return conversation


async def _message_state(database_url: str, message_id: str) -> tuple[str, object]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status::text, error FROM messages WHERE id = %s", (message_id,)).fetchone()
    assert row is not None
    return str(row[0]), row[1]


async def test_rate_limited_and_timed_out_sends_are_retried(loop, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    conversation = await _handed_off_conversation(loop, client)
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "http_429", "count": 1})
    await client.post(f"/api/conversations/{conversation}/messages", json={"type": "text", "content": {"body": "after 429"}})
    sent = await loop.wait_sent(3)
    assert sent[2]["payload"]["text"]["body"] == "after 429"
    await loop.http.post(loop.simulator.url + "/_simulator/failures",
                         json={"mode": "timeout", "count": 1, "timeoutSeconds": 2})
    await client.post(f"/api/conversations/{conversation}/messages", json={"type": "text", "content": {"body": "after timeout"}})
    sent = await loop.wait_sent(4, limit=20)
    assert sent[3]["payload"]["text"]["body"] == "after timeout"


async def test_expired_token_fails_the_message_and_flags_the_config(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    conversation = await _handed_off_conversation(loop, client)
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "error_190", "count": 1})
    message = (await client.post(f"/api/conversations/{conversation}/messages",
                                 json={"type": "text", "content": {"body": "x"}})).json()

    async def failed() -> bool:
        return (await _message_state(database_url, message["id"]))[0] == "failed"

    await waiter(failed)
    _, error = await _message_state(database_url, message["id"])
    assert isinstance(error, dict) and error["code"] == 190
    config = (await client.get("/api/whatsapp-config")).json()
    assert config["lastError"]["code"] == 190


async def test_window_closed_at_the_api_fails_the_send(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    conversation = await _handed_off_conversation(loop, client)
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "error_131047", "count": 1})
    message = (await client.post(f"/api/conversations/{conversation}/messages",
                                 json={"type": "text", "content": {"body": "x"}})).json()

    async def failed() -> bool:
        return (await _message_state(database_url, message["id"]))[0] == "failed"

    await waiter(failed)
    assert (await _message_state(database_url, message["id"]))[1]["code"] == 131047  # type: ignore[index]


async def test_the_send_limit_is_shared_per_number(app_context: AppContext, database_url: str) -> None:
    started = time.time()
    await asyncio.gather(*(take_send_slot(app_context.engine, "limited-number", 3) for _ in range(7)))
    with psycopg.connect(database_url) as conn:
        per_second = [row[0] for row in conn.execute(
            "SELECT count FROM whatsapp_send_windows WHERE \"phoneNumberId\" = 'limited-number' ORDER BY second")]
    granted = [min(count, 3) for count in per_second]
    assert sum(granted) == 7 and all(g <= 3 for g in granted) and len(per_second) >= 3
    assert time.time() - started >= 1.0


async def test_a_batch_takes_its_send_slots_at_once_and_spills_into_the_next_second(
    app_context: AppContext, database_url: str
) -> None:
    from whatsapp_builder.whatsapp.rate_limit import take_send_slots

    await take_send_slots(app_context.engine, "batch-number", 5, 7)
    with psycopg.connect(database_url) as conn:
        per_second = [row[0] for row in conn.execute(
            "SELECT count FROM whatsapp_send_windows WHERE \"phoneNumberId\" = 'batch-number' ORDER BY second")]
    # 7 wanted with 5 a second: 5 go in the first second, the 2 left wait for the next one.
    assert [min(count, 5) for count in per_second] == [5, 2]


async def test_fast_delivery_applies_a_status_that_arrived_before_the_send_was_recorded(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, database_url: str, waiter, monkeypatch, app_context: AppContext
) -> None:
    from whatsapp_builder.whatsapp.graph_client import GraphClient

    conversation = await _handed_off_conversation(loop, client)
    before = app_context.batchers["deliveries"].items_written
    # Meta's "read" for the next send reached us first (statuses are not ordered): it waits in the backlog.
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO whatsapp_status_backlog (\"whatsappMessageId\", status) VALUES ('wamid.EARLY', 'read')")

    async def send_message(self: GraphClient, phone_number_id: str, access_token: str, payload: object) -> str:
        return "wamid.EARLY"

    monkeypatch.setattr(GraphClient, "send_message", send_message)
    sent = await client.post(f"/api/conversations/{conversation}/messages",
                             json={"type": "text", "content": {"body": "hello again"}})
    assert sent.status_code == 202

    async def read() -> object:
        state = await _message_state(database_url, sent.json()["id"])
        return state if state[0] == "read" else None

    assert await waiter(read, limit=10)
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM whatsapp_status_backlog").fetchone()
        wamid = conn.execute("SELECT \"whatsappMessageId\" FROM messages WHERE id = %s", (sent.json()["id"],)).fetchone()
    assert left == (0,) and wamid == ("wamid.EARLY",)
    assert app_context.batchers["deliveries"].items_written > before  # the fast path sent it, not a worker


@pytest.mark.parametrize(
    "body",
    [
        {"type": "text", "content": {"body": "a\u0000b"}},
        {"type": "image", "content": {"url": "https://example.com/a.png", "caption": "nul \u0000"}},
        {"type": "location", "content": {"latitude": 1, "longitude": 2, "name": "\u0000"}},
    ],
)
async def test_text_postgresql_cannot_store_is_422_when_sending(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    conversation = await _handed_off_conversation(loop, client)
    before = (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"]
    response = await client.post(f"/api/conversations/{conversation}/messages", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"] == before
