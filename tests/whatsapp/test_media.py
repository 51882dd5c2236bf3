"""A customer's photo reaches the inbox: stored by WhatsApp's media id, fetched through the server with the
config's token (the simulator serves it as WhatsApp does), and passed to the browser safely."""

from __future__ import annotations

import hashlib

import httpx
import psycopg

from tests.conftest import Loop

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 64


async def _upload(loop: Loop, data: bytes, mime: str) -> str:
    answer = await loop.http.post(loop.simulator.url + "/_simulator/media", content=data, headers={"Content-Type": mime})
    assert answer.status_code == 201, answer.text
    assert answer.json()["sha256"] == hashlib.sha256(data).hexdigest()
    return str(answer.json()["id"])


def _message(database_url: str, wamid: object) -> tuple[str, str, dict[str, object]]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            'SELECT "conversationId"::text, id::text, content FROM messages WHERE "whatsappMessageId" = %s', (wamid,)
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def test_a_customers_photo_is_served_to_the_inbox_from_whatsapp(
    loop: Loop, client: httpx.AsyncClient, database_url: str
) -> None:
    media_id = await _upload(loop, PNG, "image/png")
    said = await loop.say({"image": {"id": media_id, "caption": "my pizza came like this"}})
    conversation, message, content = _message(database_url, said["messageId"])
    assert content["id"] == media_id and content["mimeType"] == "image/png"
    assert content["caption"] == "my pizza came like this" and "url" not in content  # WhatsApp's URL expires

    got = await client.get(f"/api/conversations/{conversation}/messages/{message}/media")
    assert got.status_code == 200, got.text
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == "inline"
    assert got.headers["x-content-type-options"] == "nosniff" and "sandbox" in got.headers["content-security-policy"]

    # Not in this conversation, or no media: 404 with the error body.
    other = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/api/conversations/{other}/messages/{message}/media")).status_code == 404
    await loop.say({"text": "hello"})
    with psycopg.connect(database_url) as conn:
        text_id = conn.execute("SELECT id::text FROM messages WHERE type = 'text' LIMIT 1").fetchone()
    assert text_id is not None
    no_media = await client.get(f"/api/conversations/{conversation}/messages/{text_id[0]}/media")
    assert no_media.status_code == 404 and no_media.json()["error"]["code"] == "no_media"


async def test_a_file_that_could_run_as_a_page_is_only_downloaded(
    loop: Loop, client: httpx.AsyncClient, database_url: str
) -> None:
    page = b"<html><script>alert(document.cookie)</script></html>"
    media_id = await _upload(loop, page, "text/html")
    said = await loop.say({"image": {"id": media_id}})
    conversation, message, _ = _message(database_url, said["messageId"])
    got = await client.get(f"/api/conversations/{conversation}/messages/{message}/media")
    assert got.status_code == 200 and got.content == page
    assert got.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in got.headers["content-security-policy"]


async def test_media_whatsapp_no_longer_has_or_will_not_give_is_said(
    loop: Loop, client: httpx.AsyncClient, database_url: str
) -> None:
    said = await loop.say({"image": {"id": "4242424242"}})  # an id the simulator never had: gone after 30 days
    conversation, message, _ = _message(database_url, said["messageId"])
    gone = await client.get(f"/api/conversations/{conversation}/messages/{message}/media")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "media_gone", gone.text

    media_id = await _upload(loop, PNG, "image/png")
    said = await loop.say({"image": {"id": media_id}})
    conversation, message, _ = _message(database_url, said["messageId"])
    config = (await client.get("/api/whatsapp-config")).json()
    changed = await client.put(
        "/api/whatsapp-config",
        json={k: config[k] for k in ("phoneNumberId", "businessAccountId", "webhookVerifyToken", "graphApiUrl")}
        | {"accessToken": "an-expired-token"},
    )
    assert changed.status_code == 200, changed.text
    refused = await client.get(f"/api/conversations/{conversation}/messages/{message}/media")
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "media_unavailable", refused.text
