"""Writing first: an operator opens the WhatsApp conversation with a customer by phone number, sends a template,
and the customer's answer lands in that same conversation."""

from __future__ import annotations

import json
import time

import httpx
import psycopg
import pytest

from tests.whatsapp.test_loop_realtime import _client, _collect
from tests.whatsapp.webhookkit import APP_SECRET, DISPLAY, PHONE_NUMBER_ID, VERIFY_TOKEN, envelope, sign
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.simulator.payloads import fake_bsuid


async def test_an_operator_writes_first_and_the_customers_answer_lands_in_that_conversation(
    loop, database_url: str, api_token: str  # type: ignore[no-untyped-def]
) -> None:
    # The API of the server the socket is connected to (a `client` fixture would be another app, whose own
    # Socket.IO server would emit the events).
    client = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    socket, events = await _client(loop.server.url, api_token)
    try:
        opened = await client.post(
            "/api/conversations", json={"customerPhoneNumber": "+1 (555) 123-4567", "customerName": "Alice"}
        )
        assert opened.status_code == 201, opened.text
        conversation = opened.json()
        seen = await _collect(events, lambda seen: any(e == "conversation:updated" for e, _ in seen))
    finally:
        await socket.disconnect()
    update = next(d for e, d in seen if e == "conversation:updated")  # the inbox shows the new conversation
    assert update["id"] == conversation["id"] and update["customerPhone"] == "+15551234567"
    assert conversation["customerPhone"] == "+15551234567" and conversation["customerName"] == "Alice"
    assert conversation["isWindowOpen"] is False and conversation["whatsappPhoneNumberId"]
    assert len(conversation["participants"]) == 2

    again = await client.post("/api/conversations", json={"customerPhoneNumber": "+15551234567"})
    assert again.status_code == 200 and again.json()["id"] == conversation["id"]

    url = f"/api/conversations/{conversation['id']}/messages"
    text = await client.post(url, json={"type": "text", "content": {"body": "Your order shipped"}})
    assert text.status_code == 409 and text.json()["error"]["code"] == "window_closed"
    template = await client.post(url, json={"type": "template", "content": {
        "name": "order_update", "language": "en_US", "bodyParameters": ["42"]}})
    assert template.status_code == 202, template.text
    sent = await loop.wait_sent(1)
    assert sent[0]["payload"]["type"] == "template" and sent[0]["to"] == "15551234567"
    # The inbox's preview names the template, not just its kind.
    preview = (await client.get(f"/api/conversations/{conversation['id']}")).json()["lastMessage"]
    assert preview == "[template: order_update]"

    await loop.say({"text": "hi"})
    await loop.wait_sent(3)  # the template, then the demo bot's welcome and menu
    listed = (await client.get("/api/conversations")).json()["items"]
    assert [c["id"] for c in listed] == [conversation["id"]]
    assert listed[0]["isWindowOpen"] is True
    with psycopg.connect(database_url) as conn:
        users = conn.execute('SELECT count(*) FROM users WHERE "phoneNumber" = %s', ("+15551234567",)).fetchone()
    assert users == (1,)
    await client.aclose()


async def test_writing_first_needs_a_connected_number_and_a_phone_number(client: httpx.AsyncClient) -> None:
    no_config = await client.post("/api/conversations", json={"customerPhoneNumber": "+15551234567"})
    assert no_config.status_code == 409 and no_config.json()["error"]["code"] == "not_configured"
    for body in (
        {"customerPhoneNumber": "not a number"},
        {},
        {"customerPhoneNumber": "+15551234567", "participantIds": ["0193a2f0-11aa-7b2c-8d3e-4f5061728394"]},
        {"customerName": "Alice"},
        {"customerPhoneNumber": "+15551234567", "customerName": ""},
        {"customerPhoneNumber": "+15551234567", "customerName": "   "},
        {"customerPhoneNumber": "5551234567"},  # no country code: which country's number would it be?
    ):
        response = await client.post("/api/conversations", json=body)
        assert response.status_code == 422, (body, response.text)


@pytest.mark.parametrize("sender", ["fast path", "worker"])
async def test_an_answer_with_only_the_bsuid_whatsapp_gave_at_the_send_lands_in_that_conversation(
    loop, app_context: AppContext, database_url: str, api_token: str, sender: str  # type: ignore[no-untyped-def]
) -> None:
    """A customer who adopted a username answers without a phone number: WhatsApp's answer to our send named
    their BSUID, which the customer learned, so their answer finds them. Whichever sends: this process's fast
    path, or a queue worker (a retry, `serve --no-workers`)."""
    if sender == "worker":
        app_context.hand_fresh_jobs_to_workers()
        app_context.jobs.grace = 0
    client = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    conversation = (await client.post("/api/conversations", json={"customerPhoneNumber": "+15557650001"})).json()
    template = await client.post(f"/api/conversations/{conversation['id']}/messages", json={
        "type": "template", "content": {"name": "order_update", "language": "en_US"}})
    assert template.status_code == 202
    await loop.wait_sent(1)
    bsuid = fake_bsuid("15557650001")  # what the simulator's answer to the send names

    def learned() -> bool:
        with psycopg.connect(database_url) as conn:
            row = conn.execute('SELECT bsuid FROM users WHERE "phoneNumber" = %s', ("+15557650001",)).fetchone()
        return row == (bsuid,)

    deadline = time.monotonic() + 10
    while not learned():
        assert time.monotonic() < deadline, "the customer never learned the BSUID of the send's answer"
        await loop.http.get(loop.simulator.url + "/_simulator/messages")  # a yield to the server, not a timer
    await loop.say({"from": None, "userId": bsuid, "username": "ann", "text": "hi"})
    await loop.wait_sent(3)
    listed = (await client.get("/api/conversations")).json()["items"]
    assert [c["id"] for c in listed] == [conversation["id"]]
    await client.aclose()
    app_context.enable_fast_path()


async def test_one_business_user_for_the_number_whoever_comes_first(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Written to first, before any webhook told the number's display phone number: the first webhook adopts the
    business user made then, instead of making a second one. The business's own number is refused after."""
    assert (await client.put("/api/whatsapp-config", json={
        "phoneNumberId": PHONE_NUMBER_ID, "businessAccountId": "1", "accessToken": "EAAtoken",
        "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET, "graphApiUrl": "http://127.0.0.1:9",
    })).status_code == 200
    first = await client.post("/api/conversations", json={"customerPhoneNumber": "+15557650002"})
    assert first.status_code == 201
    raw = json.dumps(envelope({"contacts": [{"wa_id": "15557650003", "profile": {"name": "Bo"}}], "messages": [
        {"from": "15557650003", "id": "wamid.FIRST-WEBHOOK", "timestamp": str(int(time.time())), "type": "text",
         "text": {"body": "hello"}}]})).encode()
    assert (await client.post("/webhooks/whatsapp", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)})).status_code == 200
    with psycopg.connect(database_url) as conn:
        businesses = conn.execute(
            "SELECT DISTINCT p.\"userId\" FROM conversations c JOIN conversation_participants p"
            ' ON p."conversationId" = c.id WHERE p."userId" IS DISTINCT FROM c."customerId"').fetchall()
        phone = conn.execute('SELECT "phoneNumber" FROM users WHERE id = %s', (businesses[0][0],)).fetchone()
    assert len(businesses) == 1 and phone == ("+" + DISPLAY,)
    own = await client.post("/api/conversations", json={"customerPhoneNumber": "+" + DISPLAY})
    assert own.status_code == 422, own.text


async def test_a_customer_with_a_conversation_cannot_be_deleted_with_it(client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/whatsapp-config", json={
        "phoneNumberId": PHONE_NUMBER_ID, "businessAccountId": "1", "accessToken": "EAAtoken",
        "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET, "graphApiUrl": "http://127.0.0.1:9",
    })).status_code == 200
    conversation = (await client.post("/api/conversations", json={"customerPhoneNumber": "+15557650004"})).json()
    customer = conversation["customerId"]
    assert (await client.delete(f"/api/users/{customer}")).status_code == 409
    assert (await client.get(f"/api/conversations/{conversation['id']}")).status_code == 200


async def test_editing_a_customer_moves_their_conversations_updated_at(configured: httpx.AsyncClient) -> None:
    # The conversation shows the customer's name and number: clients keep the copy with the newer updatedAt,
    # and dropped the rename when it did not move.
    opened = (await configured.post("/api/conversations", json={"customerPhoneNumber": "+15557654321",
                                                                 "customerName": "Carol"})).json()
    customer = next(p for p in opened["participants"] if p["phoneNumber"] == "+15557654321")
    renamed = await configured.patch(f"/api/users/{customer['id']}", json={"name": "Caroline"})
    assert renamed.status_code == 200
    after = (await configured.get(f"/api/conversations/{opened['id']}")).json()
    assert after["customerName"] == "Caroline" and after["updatedAt"] > opened["updatedAt"]
