"""A customer's photo reaches the inbox: stored by WhatsApp's media id, fetched through the server with the
config's token (the simulator serves it as WhatsApp does), and passed to the browser safely."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import LiveServer, Loop

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


class FakeGraph:
    """A Graph API that answers `GET /{version}/{media-id}` with what a test sets, serves the download, and notes
    every request's path and Authorization header."""

    def __init__(self) -> None:
        self.info: dict[str, object] = {}
        self.body = b""
        self.headers: dict[str, str] = {}
        self.seen: list[tuple[str, str]] = []
        self.server: LiveServer | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        headers = dict(scope["headers"])
        self.seen.append((scope["path"], headers.get(b"authorization", b"").decode()))
        if scope["path"].startswith("/download"):
            status, body, extra = 200, self.body, [(k.encode(), v.encode()) for k, v in self.headers.items()]
        else:
            status, body, extra = 200, json.dumps(self.info).encode(), [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": body})

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url


@pytest.fixture
async def fake_graph(client: httpx.AsyncClient) -> AsyncIterator[FakeGraph]:
    """The WhatsApp config pointed at a FakeGraph."""
    fake = FakeGraph()
    fake.server = await LiveServer(fake).start()
    base = {"phoneNumberId": "100000000000001", "businessAccountId": "1", "accessToken": "secret-token",
            "webhookVerifyToken": "v", "appSecret": "s", "graphApiUrl": fake.url}
    assert (await client.put("/api/whatsapp-config", json=base)).status_code == 200
    yield fake
    await fake.server.stop()


def _media_message(database_url: str, media_id: str = "12345", mime: str | None = "image/jpeg") -> tuple[str, str]:
    with psycopg.connect(database_url) as conn:
        user = conn.execute(
            "INSERT INTO users (\"phoneNumber\", name) VALUES ('+15550009999', 'Mia') RETURNING id"
        ).fetchone()
        assert user is not None
        conversation = conn.execute('INSERT INTO conversations ("customerId") VALUES (%s) RETURNING id', user).fetchone()
        assert conversation is not None
        message = conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", type, content, "timestamp", direction)'
            " VALUES (%s, %s, 'image', %s, now(), 'inbound') RETURNING id",
            (conversation[0], user[0], json.dumps({"id": media_id} | ({"mimeType": mime} if mime else {}))),
        ).fetchone()
        assert message is not None
    return str(conversation[0]), str(message[0])


async def test_the_access_token_goes_only_to_whatsapps_hosts_or_the_graph_apis_own(
    client: httpx.AsyncClient, database_url: str, fake_graph: FakeGraph
) -> None:
    conversation, message = _media_message(database_url)
    path = f"/api/conversations/{conversation}/messages/{message}/media"
    for elsewhere in ("http://localhost:1/download", "https://127.0.0.1/download", "http://lookaside.fbsbx.com/x",
                      "https://fbsbx.com.example.org/x", "http://[::1", "ftp://x/y"):
        fake_graph.info = {"url": elsewhere, "mime_type": "image/jpeg"}
        refused = await client.get(path)
        assert refused.status_code == 502 and refused.json()["error"]["code"] == "media_unavailable", elsewhere
    assert all(seen == "/v23.0/12345" or not seen.startswith("/download") for seen, _ in fake_graph.seen)
    # The Graph API's own origin is trusted (it has the token already): the simulator's download URLs are there.
    fake_graph.info = {"url": fake_graph.url + "/download/12345", "mime_type": "image/jpeg"}
    fake_graph.body = b"\xff\xd8jpeg bytes"
    got = await client.get(path)
    assert got.status_code == 200 and got.content == b"\xff\xd8jpeg bytes"
    assert fake_graph.seen[-1] == ("/download/12345", "Bearer secret-token")


async def test_a_compressed_download_and_a_strange_type_are_passed_on_safely(
    client: httpx.AsyncClient, database_url: str, fake_graph: FakeGraph
) -> None:
    conversation, message = _media_message(database_url, mime=None)
    path = f"/api/conversations/{conversation}/messages/{message}/media"
    text = b"not really an image " * 1000
    fake_graph.info = {"url": fake_graph.url + "/download/12345", "mime_type": "text/plain\r\nSet-Cookie: x=1"}
    fake_graph.body = gzip.compress(text)
    fake_graph.headers = {"content-encoding": "gzip", "content-length": str(len(fake_graph.body))}
    got = await client.get(path)
    assert got.status_code == 200 and got.content == text  # whole, not cut to the compressed length
    assert got.headers["content-type"] == "application/octet-stream"  # the type could not be read: no type
    assert got.headers["content-disposition"] == "attachment" and "set-cookie" not in got.headers


async def test_a_media_id_that_is_no_whatsapp_media_id_is_not_asked_for(
    client: httpx.AsyncClient, database_url: str, fake_graph: FakeGraph
) -> None:
    for odd in ("..", "1/../2", "12?x=1"):
        conversation, message = _media_message(database_url, odd)
        answer = await client.get(f"/api/conversations/{conversation}/messages/{message}/media")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_media", odd
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM conversations")
            conn.execute("DELETE FROM users WHERE \"phoneNumber\" = '+15550009999'")
    assert fake_graph.seen == []
