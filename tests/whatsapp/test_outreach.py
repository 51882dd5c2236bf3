"""Writing first: an operator opens the WhatsApp conversation with a customer by phone number, sends a template,
and the customer's answer lands in that same conversation."""

from __future__ import annotations

import httpx
import psycopg

from tests.whatsapp.test_loop_realtime import _client, _collect


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
    assert no_config.status_code == 409
    for body in (
        {"customerPhoneNumber": "not a number"},
        {},
        {"customerPhoneNumber": "+15551234567", "participantIds": ["0193a2f0-11aa-7b2c-8d3e-4f5061728394"]},
        {"customerName": "Alice"},
        {"customerPhoneNumber": "+15551234567", "customerName": ""},
    ):
        response = await client.post("/api/conversations", json=body)
        assert response.status_code == 422, (body, response.text)
