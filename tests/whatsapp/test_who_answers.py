"""What the chatbot answers, and from which number: only customers' messages to the connected number, and never
a reaction taken for a reply."""

from __future__ import annotations

import json

import httpx
import psycopg

from tests.conftest import SIMULATOR_APP_SECRET, Loop
from tests.whatsapp.webhookkit import sign
from whatsapp_builder.simulator.payloads import DEFAULT_PHONE_NUMBER_ID, build_inbound_webhook, fake_bsuid, text_message

OTHER_NUMBER = "200000000000009"  # another number of the same app, not the connected one


async def _post(loop: Loop, payload: dict[str, object]) -> None:
    raw = json.dumps(payload).encode()
    response = await loop.http.post(
        loop.server.url + "/webhooks/whatsapp",
        content=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, SIMULATOR_APP_SECRET)},
    )
    assert response.status_code == 200, response.text


async def test_a_message_to_another_number_is_stored_but_nothing_answers_it_from_the_connected_one(
    loop: Loop, api_token: str
) -> None:
    await _post(loop, build_inbound_webhook(
        text_message("hi"), from_phone="+15557770002", name="Olga", phone_number_id=OTHER_NUMBER,
        display_phone_number="15550009999"))
    # A customer of the connected number, after it: the bot answers them (and only them).
    await loop.say({"from": "+15557770001", "name": "Pia", "text": "hi"})
    sent = await loop.wait_sent(2)
    api = httpx.AsyncClient(base_url=loop.server.url, headers={"Authorization": f"Bearer {api_token}"})
    try:
        conversations = (await api.get("/api/conversations")).json()["items"]
        by_number = {c["whatsappPhoneNumberId"]: c for c in conversations}
        assert set(by_number) == {OTHER_NUMBER, DEFAULT_PHONE_NUMBER_ID}
        elsewhere = by_number[OTHER_NUMBER]
        assert elsewhere["lastMessage"] == "hi" and elsewhere["isWindowOpen"] is True

        reply = await api.post(f"/api/conversations/{elsewhere['id']}/messages",
                               json={"type": "text", "content": {"body": "Hello from the wrong number"}})
        assert reply.status_code == 409 and reply.json()["error"]["code"] == "number_not_connected", reply.text
        connected = by_number[DEFAULT_PHONE_NUMBER_ID]
        ok = await api.post(f"/api/conversations/{connected['id']}/messages",
                            json={"type": "text", "content": {"body": "Hello"}})
        assert ok.status_code == 202, ok.text
    finally:
        await api.aclose()
    sent = await loop.wait_sent(3)
    assert [m["to"] for m in sent] == ["15557770001"] * 3


async def test_a_reaction_is_not_an_answer_to_the_bot(loop: Loop, database_url: str) -> None:
    await loop.say({"text": "hi"})
    menu = (await loop.wait_sent(2))[1]  # welcome, then the menu, which waits for a button
    for emoji in ("👍", None):  # a reaction to the menu, then taking it back (no emoji)
        reaction = {"message_id": menu["wamid"]} | ({"emoji": emoji} if emoji else {})
        await _post(loop, build_inbound_webhook(
            {"type": "reaction", "reaction": reaction}, from_phone="+15551234567", name="Alice"))
    # The next answer is the first one since the menu (replies keep their order, so a re-prompt for either
    # reaction would come before it): the reactions spent no retry and changed nothing.
    await loop.say({"buttonReply": {"id": "hours", "title": "Opening hours"}})
    sent = await loop.wait_sent(4)
    assert "open every day" in json.dumps(sent[2]["payload"]), sent[2]
    with psycopg.connect(database_url) as conn:
        reactions = conn.execute("SELECT count(*) FROM messages WHERE type = 'reaction'").fetchone()
    assert reactions == (2,)  # stored, and shown in the inbox


async def test_the_bot_calls_a_customer_without_a_name_by_their_username_never_by_their_ids(loop: Loop) -> None:
    bsuid = fake_bsuid("15557770003")
    await loop.say({"from": None, "userId": bsuid, "name": None, "text": "hi"})
    await loop.say({"from": None, "userId": fake_bsuid("15557770004"), "name": None, "username": "ann", "text": "hi"})
    await loop.say({"from": "+15557770005", "name": "   ", "text": "hi"})
    sent = await loop.wait_sent(6)
    welcomes = sorted(m["payload"]["text"]["body"] for m in sent if m["payload"]["type"] == "text")
    # No name: the demo's `{{contact.name | there}}` says so, never an id nor "Hi !".
    assert welcomes == ["Hi ann! Welcome to Pizza Place 🍕", "Hi there! Welcome to Pizza Place 🍕",
                        "Hi there! Welcome to Pizza Place 🍕"], welcomes
