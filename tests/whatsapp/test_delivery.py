"""Delivery against the simulator's injected failures: what is retried, what fails, and the shared rate limit."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.whatsapp.webhookkit import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, envelope, sign
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.whatsapp.fast_delivery import deliver_conversations
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


async def _send_refused(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, database_url: str, waiter, conversation: str, failure: str, body: str
) -> dict[str, Any]:
    """An operator's text that the simulator refuses with `failure`, once it is stored as failed."""
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": failure, "count": 1})
    message: dict[str, Any] = (await client.post(f"/api/conversations/{conversation}/messages",
                                                 json={"type": "text", "content": {"body": body}})).json()

    async def failed() -> bool:
        return (await _message_state(database_url, message["id"]))[0] == "failed"

    await waiter(failed)
    return message


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
    message = await _send_refused(loop, client, database_url, waiter, conversation, "error_190", "x")
    _, error = await _message_state(database_url, message["id"])
    assert isinstance(error, dict) and error["code"] == 190
    config = (await client.get("/api/whatsapp-config")).json()
    assert config["lastError"]["code"] == 190
    assert config["lastError"]["at"].endswith("Z")  # written as every other time of the API


async def test_a_successful_send_clears_the_config_error(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    conversation = await _handed_off_conversation(loop, client)

    async def cleared() -> bool:
        return (await client.get("/api/whatsapp-config")).json()["lastError"] is None

    # A send taken straight after the commit (whatsapp/fast_delivery.py) ...
    await _send_refused(loop, client, database_url, waiter, conversation, "error_190", "refused")
    assert not await cleared()
    await client.post(f"/api/conversations/{conversation}/messages", json={"type": "text", "content": {"body": "ok"}})
    await waiter(cleared)
    # ... and one that a worker retried after a 429 (whatsapp/delivery.py).
    await _send_refused(loop, client, database_url, waiter, conversation, "error_190", "refused again")
    assert not await cleared()
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "http_429", "count": 1})
    await client.post(f"/api/conversations/{conversation}/messages", json={"type": "text", "content": {"body": "ok"}})
    await waiter(cleared)


async def test_window_closed_at_the_api_fails_the_send(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    conversation = await _handed_off_conversation(loop, client)
    message = await _send_refused(loop, client, database_url, waiter, conversation, "error_131047", "x")
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


async def test_sends_keep_to_the_numbers_own_limit(loop, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    """A number at 1 message a second: three operator messages take more than a second to go out (the demo's
    own limit, 10,000, would send them at once)."""
    conversation = await _handed_off_conversation(loop, client)
    config = (await client.get("/api/whatsapp-config")).json()
    keep = {k: config[k] for k in ("phoneNumberId", "businessAccountId", "webhookVerifyToken")}
    assert (await client.put("/api/whatsapp-config", json=keep | {"messagesPerSecond": 1})).status_code == 200
    started = time.monotonic()
    for n in range(3):
        body = {"type": "text", "content": {"body": f"limited {n}"}}
        assert (await client.post(f"/api/conversations/{conversation}/messages", json=body)).status_code == 202
    sent = await loop.wait_sent(5)
    assert time.monotonic() - started > 1.0
    assert [m["payload"]["text"]["body"] for m in sent[2:]] == ["limited 0", "limited 1", "limited 2"]


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
    from whatsapp_builder.whatsapp.graph_client import GraphClient, Sent

    conversation = await _handed_off_conversation(loop, client)
    before = app_context.batchers["deliveries"].items_written
    # Meta's "read" for the next send reached us first (statuses are not ordered): it waits in the backlog.
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO whatsapp_status_backlog (\"whatsappMessageId\", status) VALUES ('wamid.EARLY', 'read')")

    async def send(self: GraphClient, phone_number_id: str, access_token: str, payload: object) -> Sent:
        return Sent("wamid.EARLY")

    monkeypatch.setattr(GraphClient, "send", send)
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
    async def stored() -> list[str]:
        # ids only: the bot's replies may still be moving from delivered to read meanwhile
        return [m["id"] for m in (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"]]

    before = await stored()
    response = await client.post(f"/api/conversations/{conversation}/messages", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert await stored() == before


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "workers"])
async def test_a_reaction_to_our_message_id_is_sent_with_its_whatsapp_id(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, app_context: AppContext, fast_path: bool
) -> None:
    conversation = await _handed_off_conversation(loop, client)
    app_context.enable_fast_path(fast_path)
    messages = (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"]
    customers = next(m for m in messages if m["direction"] == "inbound")
    assert customers["whatsappMessageId"].startswith("wamid.")

    reaction = {"type": "reaction", "content": {"messageId": customers["id"], "emoji": "\U0001f44d"}}
    response = await client.post(f"/api/conversations/{conversation}/messages", json=reaction)
    assert response.status_code == 202, response.text
    assert response.json()["content"] == {"messageId": customers["id"], "emoji": "\U0001f44d"}  # our id, as given
    sent = await loop.wait_sent(3)
    assert sent[2]["payload"]["reaction"] == {"message_id": customers["whatsappMessageId"], "emoji": "\U0001f44d"}

    # A WhatsApp id is still taken as it is (here removing the reaction).
    removal = {"type": "reaction", "content": {"messageId": customers["whatsappMessageId"], "emoji": ""}}
    assert (await client.post(f"/api/conversations/{conversation}/messages", json=removal)).status_code == 202
    sent = await loop.wait_sent(4)
    assert sent[3]["payload"]["reaction"] == {"message_id": customers["whatsappMessageId"], "emoji": ""}


async def test_a_reaction_to_a_message_that_is_not_ours_to_name_is_422(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, database_url: str, waiter
) -> None:
    conversation = await _handed_off_conversation(loop, client)
    await loop.say({"from": "+15557654321", "name": "Bob", "text": "hi"})
    await loop.wait_sent(4)
    others = [c["id"] for c in (await client.get("/api/conversations")).json()["items"] if c["id"] != conversation]
    bobs = (await client.get(f"/api/conversations/{others[0]}/messages")).json()["items"][-1]
    assert bobs["direction"] == "inbound" and bobs["whatsappMessageId"]

    failed = await _send_refused(loop, client, database_url, waiter, conversation, "error_131026", "undeliverable")
    before = len(await loop.sent())
    for target, why in [
        (bobs["id"], "in this conversation"),  # another conversation's message
        ("0193a2f4-6b1e-7c3d-9a51-2f0e8b7c4d10", "in this conversation"),  # no such message
        (failed["id"], "no WhatsApp id"),  # never accepted by WhatsApp
        ("not-an-id", "id of a message"),
        ("wamid.", "'wamid.' and then its id"),  # a WhatsApp id's prefix alone
        ("wamid.has space", "'wamid.' and then its id"),
    ]:
        response = await client.post(f"/api/conversations/{conversation}/messages",
                                     json={"type": "reaction", "content": {"messageId": target, "emoji": "\U0001f44d"}})
        assert response.status_code == 422, (target, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == "content.messageId" and why in error["details"][0]["message"], error
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE type = 'reaction'").fetchone() == (0,)
    assert len(await loop.sent()) == before


async def test_fast_delivery_never_sends_a_reply_ahead_of_one_someone_else_is_sending(
    client: httpx.AsyncClient, database_url: str, app_context: AppContext
) -> None:
    """A conversation's sends keep their order: while another transaction holds its first send job, a fast
    delivery batch takes none of the jobs behind it (it locks what it can in the same statement that reads the
    queue, then does only the unbroken head of each queue)."""
    # A closed loopback port as the Graph API: an attempted send fails at once and is postponed (attempts 1).
    assert (await client.put("/api/whatsapp-config", json={
        "phoneNumberId": PHONE_NUMBER_ID, "businessAccountId": "1", "accessToken": "EAAtoken",
        "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET, "graphApiUrl": "http://127.0.0.1:9",
    })).status_code == 200
    app_context.active_config.invalidate()
    raw = json.dumps(envelope({"contacts": [{"wa_id": "16505550100", "profile": {"name": "Ann"}}], "messages": [
        {"from": "16505550100", "id": "wamid.ORDER1", "timestamp": str(int(time.time())), "type": "text",
         "text": {"body": "hello"}}]})).encode()
    assert (await client.post("/webhooks/whatsapp", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)})).status_code == 200
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
    for body in ("first", "second"):
        sent = await client.post(f"/api/conversations/{conversation}/messages",
                                 json={"type": "text", "content": {"body": body}})
        assert sent.status_code == 202
    with psycopg.connect(database_url) as holder:
        jobs = holder.execute("SELECT id FROM procrastinate_jobs WHERE lock = %s ORDER BY id",
                              (f"send:{conversation}",)).fetchall()
        assert len(jobs) >= 2
        holder.execute("SELECT 1 FROM procrastinate_jobs WHERE id = %s FOR UPDATE", (jobs[0][0],))  # "sending"
        await deliver_conversations(app_context, [uuid.UUID(conversation)])
        holder.rollback()
    with psycopg.connect(database_url) as conn:
        attempts = conn.execute("SELECT attempts FROM procrastinate_jobs WHERE lock = %s ORDER BY id",
                                (f"send:{conversation}",)).fetchall()
        statuses = conn.execute("SELECT status::text FROM messages WHERE direction = 'outbound'").fetchall()
    assert [a for (a,) in attempts] == [0] * len(jobs)  # none behind the held one was tried
    assert {s for (s,) in statuses} == {"pending"}
    # Once the first job is free, the queue is done from its head.
    await deliver_conversations(app_context, [uuid.UUID(conversation)])
    with psycopg.connect(database_url) as conn:
        first = conn.execute("SELECT attempts FROM procrastinate_jobs WHERE id = %s", (jobs[0][0],)).fetchone()
    assert first == (1,)  # tried (and postponed: nothing listens on port 9)


async def test_a_refused_send_followed_by_an_accepted_one_in_the_same_turn_leaves_no_config_error(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    # The bot's welcome is refused for the token (190), the menu right after it is accepted: the credentials work.
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "error_190", "count": 1})
    await loop.say({"text": "hi"})
    await loop.wait_sent(1)

    async def settled() -> bool:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT status::text FROM messages WHERE direction = 'outbound' ORDER BY \"timestamp\""
            ).fetchall()
        return [r[0] for r in rows] in (["failed", "sent"], ["failed", "delivered"], ["failed", "read"])

    await waiter(settled)

    async def cleared() -> bool:
        return (await client.get("/api/whatsapp-config")).json()["lastError"] is None

    await waiter(cleared)


async def test_a_backlog_goes_out_one_seconds_budget_per_transaction(
    client: httpx.AsyncClient, database_url: str, app_context: AppContext
) -> None:
    """At 3 messages a second, a batch of 8 waiting sends takes 3 (one conversation after the other, each in
    order) and leaves the rest queued for the next seconds, instead of holding its transaction while the
    limit spreads all 8 over three seconds and then sending them at once."""
    from tests.conftest import LiveServer
    from whatsapp_builder.simulator import SimulatorSettings, create_simulator_app

    simulator = await LiveServer(create_simulator_app(SimulatorSettings(
        webhook_url="http://127.0.0.1:9/webhooks/whatsapp", app_secret=APP_SECRET, send_statuses=False))).start()
    try:
        assert (await client.put("/api/whatsapp-config", json={
            "phoneNumberId": "100000000000001", "businessAccountId": "1", "accessToken": "demo-access-token",
            "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET, "graphApiUrl": simulator.url,
            "messagesPerSecond": 3})).status_code == 200
        app_context.active_config.invalidate()
        conversations = []
        for phone in ("16505550101", "16505550102"):
            opened = await client.post("/api/conversations", json={"customerPhoneNumber": f"+{phone}"})
            assert opened.status_code in (200, 201), opened.text
            conversations.append(opened.json()["id"])
        for _ in range(4):
            for conversation in conversations:
                body = {"type": "template", "content": {"name": "order_update", "language": "en_US"}}
                assert (await client.post(f"/api/conversations/{conversation}/messages", json=body)).status_code == 202
        ids = [uuid.UUID(c) for c in conversations]

        async def sent() -> list[str]:
            async with httpx.AsyncClient() as http:
                items = (await http.get(simulator.url + "/_simulator/messages")).json()["items"]
            return [str(item["to"]) for item in items]

        left = await deliver_conversations(app_context, ids)
        assert left == set(ids)
        assert await sent() == ["16505550101", "16505550102", "16505550101"]
        with psycopg.connect(database_url) as conn:
            pending = conn.execute("SELECT count(*) FROM messages WHERE status = 'pending'").fetchone()
        assert pending == (5,)
        for _ in range(5):  # each takes the next second's 3
            if not left:
                break
            left = await deliver_conversations(app_context, sorted(left))
        assert not left
        to = await sent()
        assert sorted(to) == ["16505550101"] * 4 + ["16505550102"] * 4
        with psycopg.connect(database_url) as conn:
            statuses = conn.execute("SELECT status::text, count(*) FROM messages GROUP BY 1").fetchall()
        assert statuses == [("sent", 8)]
    finally:
        await simulator.stop()


async def test_a_process_with_another_secret_key_leaves_sends_to_one_that_can_read_the_config(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, app_context: AppContext, settings: Any, database_url: str
) -> None:
    """A worker started before the config existed, with another WAB_SECRET_KEY than the process that then saved
    it, failed every send it took for good (a ValueError, which the queue does not retry)."""
    from whatsapp_builder.core.crypto import SecretKeyMismatch
    from whatsapp_builder.whatsapp import delivery

    conversation = await _handed_off_conversation(loop, client)

    def pending(body: str) -> uuid.UUID:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "INSERT INTO messages (\"conversationId\", \"senderId\", type, content, status, direction, \"sentBy\", \"timestamp\")"
                " SELECT \"conversationId\", \"senderId\", 'text', %s, 'pending', 'outbound', 'operator', now() FROM messages"
                " WHERE \"conversationId\" = %s AND direction = 'outbound' LIMIT 1 RETURNING id",
                (json.dumps({"body": body}), conversation),
            ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    other = AppContext.create(settings.model_copy(update={"secret_key": "another-key"}), database_url)
    told: list[SecretKeyMismatch] = []
    other.active_config.on_key_mismatch = told.append
    try:
        first = pending("waits for a process that can read the config")
        with pytest.raises(delivery.RetryLater) as retry:
            await delivery.deliver_message(other, first, 0)
        assert retry.value.error["code"] == "secret_key_mismatch" and len(told) == 1
        assert (await _message_state(database_url, str(first)))[0] == "pending"
        await delivery.deliver_message(app_context, first, 1)  # the retry, taken by a process with the key
        # sent (the simulator's status webhooks may already have moved it on)
        assert (await _message_state(database_url, str(first)))[0] in ("sent", "delivered", "read")
        last = pending("given up after an hour")
        await delivery.deliver_message(other, last, delivery.KEY_MISMATCH_ATTEMPTS - 1)
        status, error = await _message_state(database_url, str(last))
        assert status == "failed" and isinstance(error, dict) and error["code"] == "secret_key_mismatch"
    finally:
        await other.close()


async def _graph_answering(body: bytes) -> tuple[asyncio.Server, str, list[bytes]]:
    """A loopback Graph API that takes every request and answers `body` (200): the requests it got."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        requests.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", requests


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "workers"])
@pytest.mark.parametrize("wamid", ["wamid." + "A" * 300, "wamid.A\u0000B", "wamid.A\ud83dB"],
                         ids=["too-long", "nul", "half-surrogate"])
async def test_an_accepted_send_whose_id_cannot_be_stored_fails_once_and_is_not_sent_again(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, database_url: str, waiter, app_context: AppContext, wamid: str, fast_path: bool
) -> None:
    """A Graph API answer whose message id no WhatsApp message has (over 255 characters, or text PostgreSQL cannot
    hold) was taken as the id: recording it failed, the message stayed `pending` and the job was retried, sending
    it to the customer again. It is an unusable answer, as one without an id: `failed` with `bad_response`, once."""
    conversation = await _handed_off_conversation(loop, client)
    server, url, requests = await _graph_answering(
        json.dumps({"messaging_product": "whatsapp", "messages": [{"id": wamid}]}).encode())
    try:
        config = (await client.get("/api/whatsapp-config")).json()
        assert (await client.put("/api/whatsapp-config", json={
            **{k: config[k] for k in ("phoneNumberId", "businessAccountId", "accessToken", "appSecret",
                                      "webhookVerifyToken", "messagesPerSecond")},
            "graphApiUrl": url})).status_code == 200
        app_context.enable_fast_path(fast_path)
        sent = await client.post(f"/api/conversations/{conversation}/messages",
                                 json={"type": "text", "content": {"body": "once"}})
        assert sent.status_code == 202

        async def failed() -> object:
            state = await _message_state(database_url, sent.json()["id"])
            return state if state[0] == "failed" else None

        _, error = await waiter(failed, limit=15)
        assert isinstance(error, dict) and (error["type"], error["code"]) == ("bad_response", None)
        await asyncio.sleep(1.5)  # a retry would have come by now
        assert len([r for r in requests if b'"once"' in r]) == 1
    finally:
        server.close()
        await server.wait_closed()
