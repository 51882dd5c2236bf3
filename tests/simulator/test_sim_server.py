"""The simulator as a real loopback server, with a real webhook receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from whatsapp_builder.simulator import build_inbound_webhook, build_status_webhook
from whatsapp_builder.simulator.payloads import text_message
from whatsapp_builder.whatsapp.graph_client import GraphApiError, GraphClient
from whatsapp_builder.whatsapp.outbound import parse_outbound, to_graph_payload
from whatsapp_builder.whatsapp.parser import parse_webhook
from whatsapp_builder.whatsapp.signature import SignatureCheck

PNID = "100000000000001"
ACCESS_TOKEN = "test-access-token"
Receiver = Any
ServerThread = Any
AUTH = {"Authorization": f"Bearer {ACCESS_TOKEN}"}


def text_payload(body: str = "hello", to: str = "+15551234567") -> dict[str, Any]:
    return to_graph_payload(parse_outbound({"type": "text", "content": {"body": body}}), to=to)


async def test_send_returns_wamid_and_signed_statuses_arrive(
    wait: Any, simulator: ServerThread, receiver: Receiver
) -> None:
    rec = receiver
    before = datetime.now(tz=UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{simulator.url}/v23.0/{PNID}/messages", json=text_payload(), headers=AUTH)
        assert response.status_code == 200
        body = response.json()
        wamid = body["messages"][0]["id"]
        assert wamid.startswith("wamid.")
        assert body["messaging_product"] == "whatsapp"
        assert body["contacts"][0]["input"] == "15551234567"
        assert body["contacts"][0]["wa_id"] == "15551234567"

        await wait(lambda: len(rec.statuses()) >= 3)
        assert len(rec.items) == 3  # one POST per status
        assert all(item.check is SignatureCheck.OK for item in rec.items)
        statuses = [s for item in rec.items for s in parse_webhook(item.payload).statuses]
        assert [s.status for s in statuses] == ["sent", "delivered", "read"]
        assert {s.wa_message_id for s in statuses} == {wamid}
        assert {s.recipient_id for s in statuses} == {"15551234567"}
        assert all(s.recipient_user_id and s.phone_number_id == PNID for s in statuses)

        listed = (await http.get(f"{simulator.url}/_simulator/messages", params={"to": "+1 555 123 4567"})).json()
        assert [m["wamid"] for m in listed["items"]] == [wamid]
        assert listed["items"][0]["payload"]["text"] == {"body": "hello", "preview_url": False}
        since = (await http.get(f"{simulator.url}/_simulator/messages", params={"since": before.isoformat()})).json()
        assert len(since["items"]) == 1
        later = (datetime.now(tz=UTC) + timedelta(minutes=1)).isoformat()
        assert (await http.get(f"{simulator.url}/_simulator/messages", params={"since": later})).json() == {"items": []}
        assert (await http.get(f"{simulator.url}/_simulator/messages", params={"to": "999"})).json()["items"] == []
        await http.delete(f"{simulator.url}/_simulator/messages")
        assert (await http.get(f"{simulator.url}/_simulator/messages")).json()["items"] == []


async def test_history_keeps_the_newest_sends_and_finds_them_by_recipient_and_time(
    make_sim: Any, webhook_url: str
) -> None:
    """The history keeps `history_limit` sends; lookups by recipient and by time see exactly what is kept."""
    sim = make_sim(webhook_url, history_limit=3, send_statuses=False)
    bsuid = "US.13491208655302741918"
    bodies = [
        text_payload("one", to="+15550000001"),
        to_graph_payload(parse_outbound({"type": "text", "content": {"body": "two"}}), recipient=bsuid),
        text_payload("three", to="+15550000001"),
    ]
    async with httpx.AsyncClient() as http:

        async def send(body: dict[str, Any]) -> str:
            answer = await http.post(f"{sim.url}/v23.0/{PNID}/messages", json=body, headers=AUTH)
            return str(answer.json()["messages"][0]["id"])

        async def listed(**params: str) -> list[str]:
            items = (await http.get(f"{sim.url}/_simulator/messages", params=params)).json()["items"]
            return [item["payload"]["text"]["body"] for item in items]

        for body in bodies:
            await send(body)
        middle = datetime.now(tz=UTC)
        await send(text_payload("four", to="+15550000002"))  # the first send is forgotten

        assert await listed() == ["two", "three", "four"]
        assert await listed(to="+1 555 000 0001") == ["three"]
        assert await listed(to=bsuid) == ["two"]
        assert await listed(to="15550000002") == ["four"]
        assert await listed(since=middle.isoformat()) == ["four"]
        assert await listed(to="+15550000001", since=middle.isoformat()) == []
        health = (await http.get(f"{sim.url}/_simulator/health")).json()
        assert health["messages"] == 3

        for n in range(5, 9):  # every earlier send goes; the index forgets them too
            await send(text_payload(str(n), to="+15550000003"))
        assert await listed() == ["6", "7", "8"]
        assert await listed(to="+15550000001") == []
        assert await listed(to=bsuid) == []
        assert await listed(to="+15550000003") == ["6", "7", "8"]


async def test_send_to_bsuid_recipient(wait: Any, simulator: ServerThread, receiver: Receiver) -> None:
    msg = parse_outbound({"type": "text", "content": {"body": "hi"}})
    payload = to_graph_payload(msg, recipient="US.13491208655302741918")
    async with httpx.AsyncClient() as http:
        client = GraphClient(http, simulator.url, "v23.0")
        wamid = await client.send_message(PNID, ACCESS_TOKEN, payload)
    await wait(lambda: len(receiver.statuses()) >= 3)
    statuses = receiver.statuses()
    assert {s["id"] for s in statuses} == {wamid}
    assert {s.get("recipient_user_id") for s in statuses} == {"US.13491208655302741918"}
    assert all("recipient_id" not in s for s in statuses)


async def test_status_webhooks_are_retried(receiver: Receiver, webhook_url: str, make_sim: Any, wait: Any) -> None:
    rec = receiver
    rec.fail_next = 2
    sim = make_sim(webhook_url, auto_read=False)
    async with httpx.AsyncClient() as http:
        wamid = await GraphClient(http, sim.url, "v23.0").send_message(PNID, ACCESS_TOKEN, text_payload())
    await wait(lambda: len(rec.statuses()) >= 2)
    assert [s["status"] for s in rec.statuses()] == ["sent", "delivered"]
    assert {s["id"] for s in rec.statuses()} == {wamid}


async def test_statuses_waiting_behind_a_slow_webhook_ride_in_one_post(
    receiver: Receiver, webhook_url: str, make_sim: Any, wait: Any
) -> None:
    import threading

    rec = receiver
    release = threading.Event()
    rec.hold = release
    sim = make_sim(webhook_url, status_posts_in_flight=1)
    async with httpx.AsyncClient() as http:
        client = GraphClient(http, sim.url, "v23.0")
        first = await client.send_message(PNID, ACCESS_TOKEN, text_payload())
        await wait(lambda: rec.hold is None)  # the first status webhook is in flight, held by the receiver
        others = [await client.send_message(PNID, ACCESS_TOKEN, text_payload(f"n{i}")) for i in range(3)]
        release.set()
        await wait(lambda: len(rec.statuses()) >= 12)
    per_post = [[(s.wa_message_id, s.status) for s in (parse_webhook(i.payload).statuses)] for i in rec.items]
    assert per_post[0] == [(first, "sent")]
    assert per_post[1] == [(w, "sent") for w in others]  # waited together, posted together
    assert all(item.check is SignatureCheck.OK for item in rec.items)
    for wamid in [first, *others]:  # each message's statuses still arrive in order, one post after another
        assert [st for post in per_post for w, st in post if w == wamid] == ["sent", "delivered", "read"]
    assert len(rec.items) < 12


async def test_unreachable_webhook_does_not_break_sends(make_sim: Any) -> None:
    sim = make_sim("http://127.0.0.1:9/webhooks/whatsapp", webhook_retries=1)
    async with httpx.AsyncClient() as http:
        wamid = await GraphClient(http, sim.url, "v23.0").send_message(PNID, ACCESS_TOKEN, text_payload())
        assert wamid.startswith("wamid.")
        inbound = await http.post(f"{sim.url}/_simulator/inbound", json={"from": "+15551234567", "text": "hi"})
        assert inbound.status_code == 502
        assert inbound.json()["status"] is None


def buttons_payload(n: int, title: str = "ok") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Pick one"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": title}} for i in range(n)]},
        },
    }


def list_payload(rows: int) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Menu"},
            "action": {
                "button": "Open",
                "sections": [{"title": "All", "rows": [{"id": f"r{i}", "title": "Row"} for i in range(rows)]}],
            },
        },
    }


@pytest.mark.parametrize(
    ("payload", "code", "detail"),
    [
        (buttons_payload(4), 131009, "content.buttons"),
        (buttons_payload(2, title="x" * 21), 131009, "content.buttons.0.title"),
        (list_payload(11), 131009, "content.sections.0.rows"),
        ({**text_payload(), "text": {"body": "x" * 4097}}, 131009, "content.body"),
        ({**text_payload(), "messaging_product": "sms"}, 100, "messaging_product"),
        ({k: v for k, v in text_payload().items() if k != "to"}, 100, "to"),
        ({**text_payload(), "type": "fax"}, 100, "fax"),
        ({k: v for k, v in text_payload().items() if k != "text"}, 100, "text"),
    ],
)
async def test_limits_rejected_with_meta_error_shape(
    simulator: ServerThread, payload: dict[str, Any], code: int, detail: str
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{simulator.url}/v23.0/{PNID}/messages", json=payload, headers=AUTH)
        assert response.status_code == 400
        error = response.json()["error"]
        assert set(error) == {"message", "type", "code", "error_data", "fbtrace_id"}
        assert error["type"] == "OAuthException"
        assert error["code"] == code
        assert error["error_data"]["messaging_product"] == "whatsapp"
        assert detail in error["error_data"]["details"]
        # and the client classifies it as a permanent failure
        with pytest.raises(GraphApiError) as info:
            await GraphClient(http, simulator.url, "v23.0").send_message(PNID, ACCESS_TOKEN, payload)
        assert info.value.code == code and not info.value.retryable
        assert (await http.get(f"{simulator.url}/_simulator/messages")).json()["items"] == []


async def test_bad_token_and_unknown_phone_number_id(simulator: ServerThread) -> None:
    async with httpx.AsyncClient() as http:
        client = GraphClient(http, simulator.url, "v23.0")
        with pytest.raises(GraphApiError) as info:
            await client.send_message(PNID, "wrong-token", text_payload())
        assert (info.value.http_status, info.value.code, info.value.config_problem) == (401, 190, True)
        with pytest.raises(GraphApiError) as info:
            await client.send_message("999", ACCESS_TOKEN, text_payload())
        assert (info.value.code, info.value.subcode) == (100, 33)
        assert (info.value.type, info.value.title) == ("GraphMethodException", "Invalid parameter")
        raw = await http.post(f"{simulator.url}/v23.0/999/messages", json=text_payload(), headers=AUTH)
        assert raw.json()["error"]["type"] == "GraphMethodException"


@pytest.mark.parametrize(
    ("mode", "http_status", "code", "retryable", "config_problem"),
    [
        ("http_429", 429, 4, True, False),
        ("http_500", 500, 131000, True, False),
        ("error_131047", 400, 131047, False, False),
        ("error_131026", 400, 131026, False, False),
        ("error_190", 401, 190, False, True),
        ("error_130429", 400, 130429, True, False),
    ],
)
async def test_failure_modes(
    simulator: ServerThread, mode: str, http_status: int, code: int, retryable: bool, config_problem: bool
) -> None:
    async with httpx.AsyncClient() as http:
        client = GraphClient(http, simulator.url, "v23.0")
        set_ = await http.post(f"{simulator.url}/_simulator/failures", json={"mode": mode, "count": 2})
        assert set_.status_code == 200
        for _ in range(2):
            with pytest.raises(GraphApiError) as info:
                await client.send_message(PNID, ACCESS_TOKEN, text_payload())
            err = info.value
            assert (err.http_status, err.code, err.retryable, err.config_problem) == (
                http_status,
                code,
                retryable,
                config_problem,
            )
            if mode == "http_429":
                assert err.retry_after == 1.0
            # Meta's shape: the title is in the message after "(#code)", never the type (OAuthException)
            assert err.type == "OAuthException" and err.title and err.title != "OAuthException"
            assert err.fbtrace_id
        assert (await client.send_message(PNID, ACCESS_TOKEN, text_payload())).startswith("wamid.")


async def test_injected_errors_have_metas_messages_and_titles(simulator: ServerThread) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{simulator.url}/_simulator/failures", json={"mode": "error_131026", "count": 1})
        raw = (await http.post(f"{simulator.url}/v23.0/{PNID}/messages", json=text_payload(), headers=AUTH)).json()
        error = raw["error"]
        assert error["message"] == "(#131026) Message Undeliverable."
        assert error["type"] == "OAuthException" and error["code"] == 131026
        assert error["error_data"]["messaging_product"] == "whatsapp" and error["error_data"]["details"]
        assert "title" not in error  # Meta's send errors have no title field
        await http.post(f"{simulator.url}/_simulator/failures", json={"mode": "error_190", "count": 1})
        with pytest.raises(GraphApiError) as info:
            await GraphClient(http, simulator.url, "v23.0").send_message(PNID, ACCESS_TOKEN, text_payload())
        assert (info.value.code, info.value.subcode) == (190, 463)
        assert info.value.title == "Access token is invalid or has expired"


async def test_failure_timeout_and_clear(simulator: ServerThread) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(
            f"{simulator.url}/_simulator/failures", json={"mode": "timeout", "count": 2, "timeoutSeconds": 0.3}
        )
        async with httpx.AsyncClient(timeout=0.05) as impatient:
            with pytest.raises(GraphApiError) as info:
                await GraphClient(impatient, simulator.url, "v23.0").send_message(PNID, ACCESS_TOKEN, text_payload())
        assert (info.value.http_status, info.value.retryable) == (None, True)
        patient = await http.post(f"{simulator.url}/v23.0/{PNID}/messages", json=text_payload(), headers=AUTH)
        assert patient.status_code == 504
        await http.post(f"{simulator.url}/_simulator/failures", json={"mode": "http_500", "count": 5})
        assert (await http.get(f"{simulator.url}/_simulator/failures")).json()["remaining"] == 5
        await http.delete(f"{simulator.url}/_simulator/failures")
        ok = await http.post(f"{simulator.url}/v23.0/{PNID}/messages", json=text_payload(), headers=AUTH)
        assert ok.status_code == 200
        bad = await http.post(f"{simulator.url}/_simulator/failures", json={"mode": "explode"})
        assert bad.status_code == 422


async def test_mark_as_read_is_recorded(simulator: ServerThread) -> None:
    async with httpx.AsyncClient() as http:
        client = GraphClient(http, simulator.url, "v23.0")
        await client.mark_as_read(PNID, ACCESS_TOKEN, "wamid.IN1", typing_indicator=True)
        reads = (await http.get(f"{simulator.url}/_simulator/reads")).json()["items"]
        assert reads[0]["messageId"] == "wamid.IN1"
        assert reads[0]["typingIndicator"] == {"type": "text"}
        assert (await http.get(f"{simulator.url}/_simulator/messages")).json()["items"] == []


@pytest.mark.parametrize(
    ("request_body", "kind", "content"),
    [
        ({"text": "hi there"}, "text", {"body": "hi there"}),
        ({"buttonReply": {"id": "yes", "title": "Yes"}}, "interactive", {"buttonId": "yes", "title": "Yes"}),
        (
            {"listReply": {"id": "r2", "title": "Pizza", "description": "Cheesy"}},
            "interactive",
            {"listRowId": "r2", "title": "Pizza", "description": "Cheesy"},
        ),
        (
            {"image": {"link": "https://example.com/cat.jpg", "caption": "cat"}},
            "image",
            {"caption": "cat", "mimeType": "image/jpeg"},
        ),
        (
            {"location": {"latitude": 52.5, "longitude": 13.4, "name": "Berlin"}},
            "location",
            {"latitude": 52.5, "longitude": 13.4, "name": "Berlin"},
        ),
    ],
)
async def test_inbound_messages_reach_the_webhook(
    simulator: ServerThread,
    receiver: Receiver,
    request_body: dict[str, Any],
    kind: str,
    content: dict[str, Any],
) -> None:
    rec = receiver
    body = {"from": "+1 555 123 4567", "name": "Alice", "contextMessageId": "wamid.EARLIER", **request_body}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{simulator.url}/_simulator/inbound", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == 200 and answer["body"] == "EVENT_RECEIVED"
    (item,) = rec.items
    assert item.check is SignatureCheck.OK
    batch = parse_webhook(item.payload)
    assert batch.problems == []
    (msg,) = batch.messages
    assert msg.wa_message_id == answer["messageId"]
    assert (msg.from_phone, msg.contact_name, msg.phone_number_id) == ("15551234567", "Alice", PNID)
    assert msg.from_user_id is not None and msg.from_user_id.startswith("US.")
    assert msg.type == kind
    assert content.items() <= msg.content.items()
    assert msg.content["replyTo"] == "wamid.EARLIER"


async def test_inbound_bsuid_only_customer(simulator: ServerThread, receiver: Receiver) -> None:
    async with httpx.AsyncClient() as http:
        body = {"userId": "BR.1502576394655843", "username": "@jo", "name": "Jo", "text": "oi"}
        response = await http.post(f"{simulator.url}/_simulator/inbound", json=body)
        assert response.status_code == 200
        for bad in ({"from": "+1555", "text": "a", "buttonReply": {"id": "x", "title": "y"}}, {"text": "a"}, {},
                    {"from": "+15551234567", "image": {}}, {"from": "+15551234567", "image": {"caption": "x"}}):
            assert (await http.post(f"{simulator.url}/_simulator/inbound", json=bad)).status_code == 422
        for business in ("+15550001111", "0015550001111", "+1 (555) 000-1111"):  # written as the server reads it
            itself = await http.post(f"{simulator.url}/_simulator/inbound", json={"from": business, "text": "a"})
            assert itself.status_code == 422 and "the business number itself" in itself.json()["error"], business
    (msg,) = parse_webhook(receiver.items[0].payload).messages
    assert (msg.from_phone, msg.from_user_id, msg.contact_username) == (None, "BR.1502576394655843", "@jo")


def test_pure_builders_match_the_parser() -> None:
    inbound = build_inbound_webhook(
        text_message("yo"), from_phone="+15551234567", user_id="US.1", name="Al", wamid="wamid.Z", timestamp=1
    )
    (msg,) = parse_webhook(inbound).messages
    assert (msg.wa_message_id, msg.from_phone, msg.from_user_id, msg.content) == (
        "wamid.Z",
        "15551234567",
        "US.1",
        {"body": "yo"},
    )
    failed = build_status_webhook(
        "wamid.F",
        "failed",
        recipient_id="15551234567",
        errors=[{"code": 131026, "title": "Message undeliverable", "details": "not on WhatsApp"}],
    )
    (status,) = parse_webhook(failed).statuses
    assert status.status == "failed"
    assert status.errors == [
        {
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "details": "not on WhatsApp",
        }
    ]
    assert "pricing" not in failed["entry"][0]["changes"][0]["value"]["statuses"][0]
    with pytest.raises(ValueError):
        build_inbound_webhook(text_message("x"), from_phone=None)


async def test_the_production_transport_classifies_like_httpx(simulator: ServerThread) -> None:
    from whatsapp_builder.whatsapp.graph_http import GraphHttp

    session = GraphHttp(timeout_seconds=0.2)
    client = GraphClient(session, simulator.url, "v23.0")
    try:
        assert (await client.send_message(PNID, ACCESS_TOKEN, text_payload())).startswith("wamid.")
        async with httpx.AsyncClient() as http:
            await http.post(f"{simulator.url}/_simulator/failures", json={"mode": "http_429", "count": 1})
            with pytest.raises(GraphApiError) as info:
                await client.send_message(PNID, ACCESS_TOKEN, text_payload())
            assert (info.value.http_status, info.value.retryable, info.value.retry_after) == (429, True, 1.0)
            await http.post(f"{simulator.url}/_simulator/failures", json={"mode": "error_131026", "count": 1})
            with pytest.raises(GraphApiError) as info:
                await client.send_message(PNID, ACCESS_TOKEN, text_payload())
            assert (info.value.code, info.value.retryable) == (131026, False)
            await http.post(
                f"{simulator.url}/_simulator/failures", json={"mode": "timeout", "count": 1, "timeoutSeconds": 1}
            )
            with pytest.raises(GraphApiError) as info:
                await client.send_message(PNID, ACCESS_TOKEN, text_payload())
            assert (info.value.http_status, info.value.retryable) == (None, True)
        unreachable = GraphClient(session, "http://127.0.0.1:9", "v23.0")
        with pytest.raises(GraphApiError) as info:
            await unreachable.send_message(PNID, ACCESS_TOKEN, text_payload())
        assert (info.value.type, info.value.retryable) == ("network", True)
    finally:
        await session.close()


async def test_an_inbound_message_is_posted_again_when_the_connection_drops(make_sim: Any) -> None:
    """A server that closes the connection without answering (a stale keep-alive connection) gets the same
    message once more instead of the caller getting a 502."""
    bodies: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        bodies.append(await reader.readexactly(length))
        if len(bodies) > 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nEVENT_RECEIVED")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sim = make_sim(f"http://127.0.0.1:{port}/webhooks/whatsapp")
    async with server, httpx.AsyncClient() as http:
        inbound = await http.post(f"{sim.url}/_simulator/inbound", json={"from": "+15551234567", "text": "hi"})
    assert inbound.status_code == 200 and inbound.json()["status"] == 200, inbound.text
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same message, the same wamid
