"""The REST API through the ASGI app: CRUD, camelCase JSON, cursors, auth and clear errors for bad input."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from whatsapp_builder.core.context import AppContext


async def test_health_needs_no_token(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wab_nope", "Basic abc", "Bearer " + "x" * 500])
async def test_api_needs_a_valid_token(anon_client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await anon_client.get("/api/users", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_revoked_token_is_refused(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/tokens", json={"name": "temp"})).json()
    other = {"Authorization": f"Bearer {created['token']}"}
    assert (await client.get("/api/users", headers=other)).status_code == 200
    assert (await client.delete(f"/api/tokens/{created['id']}")).status_code == 204
    assert (await client.get("/api/users", headers=other)).status_code == 401
    listed = (await client.get("/api/tokens")).json()["items"]
    assert all("token" not in t and "tokenHash" not in t for t in listed)
    assert next(t for t in listed if t["id"] == created["id"])["revokedAt"] is not None


async def test_a_token_in_use_shows_when_it_was_last_used(client: httpx.AsyncClient, database_url: str) -> None:
    created = (await client.post("/api/tokens", json={"name": "used"})).json()
    assert created["lastUsedAt"] is None
    other = {"Authorization": f"Bearer {created['token']}"}
    assert (await client.get("/api/users", headers=other)).status_code == 200
    listed = {t["id"]: t for t in (await client.get("/api/tokens")).json()["items"]}
    first = listed[created["id"]]["lastUsedAt"]
    assert first is not None
    # Within the minute, further requests leave it alone (no write per request); after it, they move it.
    assert (await client.get("/api/users", headers=other)).status_code == 200
    listed = {t["id"]: t for t in (await client.get("/api/tokens")).json()["items"]}
    assert listed[created["id"]]["lastUsedAt"] == first
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """UPDATE api_tokens SET "lastUsedAt" = "lastUsedAt" - interval '2 minutes' WHERE id = %s""",
            (created["id"],),
        )
    assert (await client.get("/api/users", headers=other)).status_code == 200
    listed = {t["id"]: t for t in (await client.get("/api/tokens")).json()["items"]}
    assert listed[created["id"]]["lastUsedAt"] > first


async def test_tokens_page_newest_first_by_cursor(client: httpx.AsyncClient) -> None:
    made = [(await client.post("/api/tokens", json={"name": f"t{i}"})).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/tokens", params=params)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    # The fixture's own token came first, so it comes last; every token once.
    assert seen[:5] == made[::-1] and len(seen) == len(set(seen)) == 6
    assert (await client.get("/api/tokens", params={"cursor": "nonsense"})).status_code == 400


async def test_tokens_are_stored_hashed(client: httpx.AsyncClient, database_url: str) -> None:
    created = (await client.post("/api/tokens", json={"name": "hashed"})).json()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute('SELECT "tokenHash" FROM api_tokens').fetchall()
    assert all(created["token"] not in str(r[0]) for r in rows)


async def test_user_crud_normalises_phone_numbers(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/users", json={"phoneNumber": "+44 20 7946 0958", "name": "Ada"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["phoneNumber"] == "+442079460958"
    assert {"id", "phoneNumber", "name", "avatar", "createdAt", "updatedAt"} <= set(user)
    # WhatsApp's wa_id form (digits, no plus) is the same number.
    duplicate = await client.post("/api/users", json={"phoneNumber": "442079460958", "name": "Again"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    other = (await client.post("/api/users", json={"phoneNumber": "+14155550100", "name": "Bo"})).json()
    taken = await client.patch(f"/api/users/{other['id']}", json={"phoneNumber": "+442079460958"})
    assert taken.status_code == 409 and "+442079460958 already exists" in taken.json()["error"]["message"]

    for bad in ({"name": "   "}, {"avatar": "javascript:alert(1)"}, {"avatar": "/relative.png"}):
        refused = await client.patch(f"/api/users/{user['id']}", json=bad)
        assert refused.status_code == 422, bad
    blank = await client.post("/api/users", json={"phoneNumber": "+14155550199", "name": " \t "})
    assert blank.status_code == 422
    patched = await client.patch(f"/api/users/{user['id']}", json={"name": "  Ada L. ", "avatar": "https://x.test/a.png"})
    assert patched.status_code == 200 and patched.json()["name"] == "Ada L."
    assert (await client.get(f"/api/users/{user['id']}")).json()["name"] == "Ada L."
    assert (await client.delete(f"/api/users/{user['id']}")).status_code == 204
    assert (await client.get(f"/api/users/{user['id']}")).status_code == 404


async def test_users_page_by_cursor(client: httpx.AsyncClient) -> None:
    for i in range(5):
        assert (
            await client.post("/api/users", json={"phoneNumber": f"+1415555010{i}", "name": f"u{i}"})
        ).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/users", params=params)).json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    tokens_cursor = (await client.get("/api/tokens", params={"limit": 1})).json()["nextCursor"]
    foreign = [seen[0], "00000000-0000-0000-0000-000000000000"] + ([tokens_cursor] if tokens_cursor else [])
    nested = base64.urlsafe_b64encode(b"[" * 1200 + b"]" * 1200).decode()  # decoding it overflowed the stack
    long = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", seen[0], "users" + " " * 2000]).encode())
    for bad in ("@@@", "nonsense", "1", nested, long.decode(), *foreign):  # a user id is not a cursor
        refused = await client.get("/api/users", params={"cursor": bad})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_cursor", bad


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phoneNumber": "not a phone", "name": "x"}, "phoneNumber"),
        ({"phoneNumber": "+1", "name": "x"}, "phoneNumber"),
        ({"phoneNumber": "+14155550100", "name": ""}, "name"),
        ({"phoneNumber": "+14155550100", "name": "x" * 101}, "name"),
        ({"phoneNumber": "+14155550100", "name": "x", "avatar": "a" * 501}, "avatar"),
        ({"phoneNumber": "+14155550100", "name": "x", "avatar": "http://\u0000"}, "avatar"),  # was a 422 naming none
        ({"phoneNumber": 14155550100, "name": "x"}, "phoneNumber"),
        ({"phoneNumber": "+14155550100", "name": "x", "extra": 1}, "extra"),
        ({"name": "x"}, "phoneNumber"),
    ],
)
async def test_bad_user_input_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/users", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["field"].startswith(field) for d in error["details"]), error


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"\xff\xfe", b'{"name": "\xff"}', b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    """Bad syntax, bytes that are not UTF-8, nesting too deep to parse: all `malformed_json`."""
    response = await client.post("/api/users", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
async def test_a_body_not_sent_as_json_says_so(client: httpx.AsyncClient, content_type: str | None) -> None:
    """`curl -d '{"name": ...}'` sends a form's type: the answer names the header, not the body's fields."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/api/users", content=b'{"name": "Ana", "phoneNumber": "+14155550123"}',
                                 headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in response.json()["error"]["message"]
    assert "dictionary" not in response.text  # pydantic's view of the body it did not read
    # Sent as JSON (also as a +json type), the same body is fine.
    ok = await client.post("/api/users", content=b'{"name": "Ana", "phoneNumber": "+14155550123"}',
                           headers={"Content-Type": "application/vnd.api+json"})
    assert ok.status_code == 201, ok.text


async def test_a_body_in_another_charset_or_compressed_is_415(client: httpx.AsyncClient, database_url: str) -> None:
    """`application/json; charset=utf-16` and `Content-Encoding: gzip` were read as plain UTF-8 JSON: a body in
    another charset was stored when its bytes also read as UTF-8, a gzipped one was "not valid JSON". JSON is
    UTF-8 (RFC 8259) and this server decodes no content coding, so both are 415 (RFC 9110 15.5.16) saying so;
    what clients send (the web app, curl) keeps working, and the token is still checked first."""
    import gzip

    def user(n: int) -> bytes:
        return json.dumps({"name": f"Ana {n}", "phoneNumber": f"+1415555012{n}"}).encode()

    refused = [
        ({"Content-Type": "application/json; charset=utf-16"}, "charset utf-16"),
        ({"Content-Type": "application/json;charset=ISO-8859-1"}, "charset iso-8859-1"),
        ({"Content-Type": 'application/json; charset=""'}, "charset (empty)"),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, "Content-Encoding gzip"),
        ({"Content-Type": "application/json", "Content-Encoding": "identity, br"}, "Content-Encoding br"),
        ({"Content-Type": "application/vnd.api+json", "Content-Encoding": "Deflate"}, "Content-Encoding deflate"),
    ]
    for headers, named in refused:
        body = gzip.compress(user(0)) if headers.get("Content-Encoding") == "gzip" else user(0)
        for method, url in (("POST", "/api/users"), ("POST", "/api/flows/validate")):
            answer = await client.request(method, url, content=body, headers=headers)
            assert answer.status_code == 415, (headers, url, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "unsupported_media_type" and named in error["message"], (headers, error)
        # The token first, as for every other fault of a request.
        unknown = {**headers, "Authorization": "Bearer not-a-token"}
        assert (await client.post("/api/users", content=body, headers=unknown)).status_code == 401
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    # A body that is not UTF-8 is malformed whatever it claims: the standard library guessed UTF-16 and took it.
    utf16 = await client.post("/api/users", content=user(0).decode().encode("utf-16"),
                              headers={"Content-Type": "application/json"})
    assert utf16.status_code == 400 and utf16.json()["error"]["code"] == "malformed_json", utf16.text
    accepted = [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "Application/JSON;Charset=UTF-8"},
        {"Content-Type": 'application/json; charset="utf-8"'},
        {"Content-Type": "application/json", "Content-Encoding": "identity"},
        {"Content-Type": "application/json; charset=UTF8"},  # the same charset by another of its labels
    ]
    for n, headers in enumerate(accepted, start=1):
        ok = await client.post("/api/users", content=user(n), headers=headers)
        assert ok.status_code == 201, (headers, ok.text)
    bom = await client.post("/api/users", content=b"\xef\xbb\xbf" + user(9), headers={"Content-Type": "application/json"})
    assert bom.status_code == 201, bom.text  # a UTF-8 byte order mark, as before


async def test_an_empty_body_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/users", content=b"", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/users"),
        ("PATCH", "/api/users/0193a2f0-0f00-7e6d-8c5b-4a3928171605"),
        ("POST", "/api/chatbots"),
        ("POST", "/api/conversations/0193a2f0-11aa-7b2c-8d3e-4f5061728394/messages"),
        ("PUT", "/api/whatsapp-config"),
        ("POST", "/api/tokens"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wab_nope", "Basic abc"])
async def test_without_a_valid_token_malformed_json_is_401_not_400(
    anon_client: httpx.AsyncClient, method: str, path: str, header: str | None
) -> None:
    headers = {"Content-Type": "application/json"} | ({"Authorization": header} if header else {})
    response = await anon_client.request(method, path, content=b"{not json", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_with_a_valid_token_malformed_json_is_400_and_good_json_works(client: httpx.AsyncClient) -> None:
    bad = await client.post("/api/users", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"
    [detail] = bad.json()["error"]["details"]
    assert detail["field"] == "" and detail["message"].endswith("at character 1"), detail  # a place, not a field
    huge = await client.post("/api/users", content=b'{"name": ' + b"9" * 5000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert huge.status_code == 400 and "number too long" in huge.json()["error"]["message"]
    invalid = await client.post("/api/users", json={"name": "Ana"})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "validation_error"
    created = await client.post("/api/users", json={"name": "Ana", "phoneNumber": "+14155550177"})
    assert created.status_code == 201 and created.json()["phoneNumber"] == "+14155550177"


async def test_nan_and_infinities_are_malformed_json_on_every_route_with_a_body(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Python's json (FastAPI's) reads them, though they are not JSON: each route refused them its own way, and a
    test run took them. Now every route with a JSON body answers 400 `malformed_json`, naming the place."""
    spec = (await client.get("/openapi.json")).json()
    routes = [(method.upper(), path) for path, item in spec["paths"].items() if path.startswith("/api/")
              for method, operation in item.items() if "application/json" in operation.get("requestBody", {}).get(
                  "content", {})]
    assert len(routes) >= 10 and ("POST", "/api/chatbots/{chatbot_id}/test-run") in routes
    demo = json.loads((Path(__file__).parents[2] / "examples" / "demo-chatbot.json").read_text(encoding="utf-8"))
    chatbot = (await client.post("/api/chatbots/import", json=demo)).json()["id"]
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"name": "Ana", "inputs": ["hi", {{"type": "location", "content": {{"latitude": {constant}}}}}]}}'
        for method, path in routes:
            url = re.sub(r"\{\w+\}", lambda p: chatbot if "chatbot" in p[0] else str(uuid.uuid4()), path)
            response = await client.request(method, url, content=body.encode(),
                                            headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (method, url, constant, response.text)
            error = response.json()["error"]
            assert error["code"] == "malformed_json", (method, url, error)
            place = body.index(constant)
            assert error["details"][0]["message"].endswith(f"({constant} is not a JSON value) at character {place}")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


async def test_an_oversized_body_without_a_token_is_401(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post(
        "/api/chatbots", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


async def test_the_token_is_looked_up_once_per_request(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from whatsapp_builder.auth import deps, service

    calls: list[str] = []

    async def counting(session: object, token: str) -> object:
        calls.append(token)
        return await service.find_valid_token(session, token)  # type: ignore[arg-type]

    monkeypatch.setattr(deps, "find_valid_token", counting)
    assert (await client.get("/api/users")).status_code == 200
    assert (await client.post("/api/users", json={"name": "Bo", "phoneNumber": "+14155550178"})).status_code == 201
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/users", {"name": "Nul\u0000Name", "phoneNumber": "+14155550142"}),
        ("/api/chatbots", {"name": "Bot\u0000", "nodes": [], "edges": []}),
        ("/api/chatbots", {"name": "Bot", "description": "half \ud800 pair", "nodes": [], "edges": []}),
        ("/api/users", {"name": "Half \ud800", "phoneNumber": "+14155550143"}),
        ("/api/tokens", {"name": "x\udfff"}),
        ("/api/conversations", {"customerPhoneNumber": "+14155550144", "customerName": "\udfff"}),
    ],
)
async def test_text_postgresql_cannot_store_is_422_and_stores_nothing(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    before = (await client.get(path)).json()["items"]
    response = await client.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert (await client.get(path)).json()["items"] == before


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/chatbots",
        content=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_chunked_bodies_are_capped_and_read_like_any_other(client: httpx.AsyncClient) -> None:
    """A body sent without a Content-Length (chunked) is counted as it arrives, and answered 413, not 400."""

    async def chunks(parts: list[bytes]):  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    oversized = [b'{"name": "'] + [b"x" * 65536] * 32 + [b'"}']
    response = await client.post(
        "/api/chatbots", content=chunks(oversized), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    small = [b'{"name": "Chunked', b' bot", "nodes": [], "edges": []}']
    response = await client.post("/api/chatbots", content=chunks(small), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Chunked bot"


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient) -> None:
    for path in ("users", "chatbots", "conversations"):
        missing = await client.get(f"/api/{path}/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert (await client.get(f"/api/{path}/not-a-uuid")).status_code == 422
    assert (await client.get(f"/api/conversations/{uuid.uuid4()}/messages")).status_code == 404
    # Fields are named as the API spells names (camelCase), with where they were: path or query.
    bad_id = (await client.get("/api/conversations/not-a-uuid/messages")).json()["error"]["details"]
    assert [d["field"] for d in bad_id] == ["path.conversationId"]
    bad_limit = (await client.get("/api/conversations", params={"limit": 0})).json()["error"]["details"]
    assert [d["field"] for d in bad_limit] == ["query.limit"]


async def test_a_path_nothing_serves_is_404_whatever_the_method_and_a_wrong_method_is_405(
    client: httpx.AsyncClient,
) -> None:
    # The web app answers every GET path; that made any other method on any path a 405.
    for method, path in (("POST", "/nothing"), ("POST", "/webhooks/whatsapp/"), ("PUT", "/webhooks/WhatsApp"),
                         ("DELETE", "/inbox"), ("POST", "/api/nothing")):
        response = await client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    wrong = await client.request("PATCH", "/api/users")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert (await client.request("PUT", "/webhooks/whatsapp")).status_code == 405
    for page in ("/", "/inbox"):  # uptime checks use HEAD
        assert (await client.head(page)).status_code == 200, page
    head = await client.head("/api/users")
    assert head.status_code == 405 and set(head.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert (await client.head("/api/nothing")).status_code == 404
    assert (await client.head("/healthz")).status_code == 200


async def test_chatbot_crud(client: httpx.AsyncClient) -> None:
    nodes = [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}}]
    created = await client.post(
        "/api/chatbots",
        json={"name": "Bot", "nodes": nodes, "edges": [], "metadata": {"sessionTimeoutMinutes": 5}},
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    assert (  # the seed's default: active (it runs once published)
        bot["nodes"] == nodes and bot["isActive"] is True and bot["metadata"] == {"sessionTimeoutMinutes": 5}
    )
    patched = await client.patch(f"/api/chatbots/{bot['id']}", json={"isActive": False, "status": "archived"})
    assert patched.json()["isActive"] is False and patched.json()["status"] == "archived"
    bad_status = await client.patch(f"/api/chatbots/{bot['id']}", json={"status": "sleeping"})
    assert bad_status.status_code == 422
    listed = (await client.get("/api/chatbots")).json()
    assert [b["id"] for b in listed["items"]] == [bot["id"]] and listed["items"][0]["nodeCount"] == 1
    assert (await client.delete(f"/api/chatbots/{bot['id']}")).status_code == 204
    assert (await client.get(f"/api/chatbots/{bot['id']}")).status_code == 404


async def _conversation_with_messages(
    client: httpx.AsyncClient, database_url: str, count: int, phones: tuple[str, str] = ("+14155550111", "+14155550112")
) -> str:
    a = (await client.post("/api/users", json={"phoneNumber": phones[0], "name": "A"})).json()
    b = (await client.post("/api/users", json={"phoneNumber": phones[1], "name": "B"})).json()
    conversation = await client.post("/api/conversations", json={"participantIds": [a["id"], b["id"]]})
    assert conversation.status_code == 201, conversation.text
    conv_id: str = conversation.json()["id"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp")'
            " SELECT %s, %s, jsonb_build_object('body', 'm' || g), '2026-01-01'::timestamptz + g * interval '1s'"
            " FROM generate_series(1, %s) g",
            (conv_id, a["id"], count),
        )
        # Two messages with the same timestamp: the id breaks the tie, none is skipped or repeated.
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp")'
            " VALUES (%s, %s, '{\"body\": \"tie\"}', '2026-01-01'::timestamptz + interval '5s')",
            (conv_id, a["id"]),
        )
        conn.execute(
            'INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId")'
            " SELECT %s, id, 'n' FROM chatbots LIMIT 1",
            (conv_id,),
        )
    return conv_id


async def test_conversation_messages_page_by_cursor_and_delete_cascades(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/api/chatbots", json={"name": "Bot"})
    conv_id = await _conversation_with_messages(client, database_url, 23)
    detail = (await client.get(f"/api/conversations/{conv_id}")).json()
    assert {p["phoneNumber"] for p in detail["participants"]} == {"+14155550111", "+14155550112"}
    assert detail["lastMessage"] == "m23"
    assert detail["isWindowOpen"] is False  # no customer message yet: the window is closed

    bodies: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 5} | ({"before": cursor} if cursor else {})
        page = (await client.get(f"/api/conversations/{conv_id}/messages", params=params)).json()
        bodies += [m["content"]["body"] for m in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(bodies) == 24 and len(set(bodies)) == 24
    assert bodies[0] == "m23" and bodies[-1] == "m1"

    bad = await client.get(f"/api/conversations/{conv_id}/messages", params={"before": "garbage!"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"

    # `cursor`, as on every other list, pages the same way as `before`
    via_cursor: list[str] = []
    cursor = None
    for _ in range(10):  # 5 pages; an ignored cursor would return the first page for ever
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/api/conversations/{conv_id}/messages", params=params)).json()
        via_cursor += [m["content"]["body"] for m in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert via_cursor == bodies
    first = (await client.get(f"/api/conversations/{conv_id}/messages", params={"limit": 5})).json()
    both = {"limit": 5, "cursor": first["nextCursor"], "before": first["nextCursor"]}
    assert (await client.get(f"/api/conversations/{conv_id}/messages", params=both)).status_code == 200
    conflicting = await client.get(
        f"/api/conversations/{conv_id}/messages", params={"cursor": first["nextCursor"], "before": "other"}
    )
    assert conflicting.status_code == 422 and conflicting.json()["error"]["code"] == "validation_error"
    bad = await client.get(f"/api/conversations/{conv_id}/messages", params={"cursor": "garbage!"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
    # A cursor belongs to its list: another conversation's, or the inbox's, is refused, not read as a position.
    other = await _conversation_with_messages(client, database_url, 3, phones=("+14155550113", "+14155550114"))
    other_cursor = (await client.get(f"/api/conversations/{other}/messages", params={"limit": 1})).json()["nextCursor"]
    inbox_cursor = (await client.get("/api/conversations", params={"limit": 1})).json()["nextCursor"]
    tokens_cursor = (await client.get("/api/tokens", params={"limit": 1})).json()["nextCursor"]
    assert other_cursor and inbox_cursor
    for foreign in (other_cursor, inbox_cursor):
        refused = await client.get(f"/api/conversations/{conv_id}/messages", params={"cursor": foreign})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_cursor"
    refused = await client.get("/api/conversations", params={"cursor": first["nextCursor"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_cursor"
    if tokens_cursor:
        assert (await client.get("/api/chatbots", params={"cursor": tokens_cursor})).status_code == 400
    assert (await client.delete(f"/api/conversations/{other}")).status_code == 204

    assert (await client.delete(f"/api/conversations/{conv_id}")).status_code == 204
    with psycopg.connect(database_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM conversation_contexts),"
            " (SELECT count(*) FROM conversation_participants)"
        ).fetchone()
    assert counts == (0, 0, 0)


async def test_a_reconnecting_client_catches_up_after_the_last_message_it_saw(
    client: httpx.AsyncClient, database_url: str
) -> None:
    conv_id = await _conversation_with_messages(client, database_url, 12)
    with psycopg.connect(database_url, autocommit=True) as conn:  # stored in the order they were sent
        conn.execute('UPDATE messages SET "createdAt" = "timestamp" WHERE "conversationId" = %s', (conv_id,))
    newest_first = (await client.get(f"/api/conversations/{conv_id}/messages", params={"limit": 200})).json()["items"]
    timeline = list(reversed(newest_first))  # m1 .. m5, tie, .. m12 (13 messages)
    seen = timeline[3]  # the client had everything up to and including this one

    caught_up: list[str] = []
    after: str | None = seen["id"]
    for _ in range(10):  # an ignored `after` would return the same page for ever
        page = (await client.get(f"/api/conversations/{conv_id}/messages", params={"after": after, "limit": 3})).json()
        caught_up += [m["id"] for m in page["items"]]
        after = page["nextCursor"]
        if after is None:
            break
    assert caught_up == [m["id"] for m in timeline[4:]]  # oldest first, nothing skipped or repeated (the tie too)
    newest = timeline[-1]["id"]
    assert (await client.get(f"/api/conversations/{conv_id}/messages", params={"after": newest})).json() == {
        "items": [],
        "nextCursor": None,
    }
    # What was stored after the last message seen, whatever its WhatsApp timestamp: a customer's tap in the same
    # second as the bot's reply (customers' timestamps have whole seconds), and a message Meta delivered late.
    with psycopg.connect(database_url, autocommit=True) as conn:
        sender = conn.execute('SELECT "senderId" FROM messages WHERE id = %s', (newest,)).fetchone()
        assert sender is not None
        added = conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, "timestamp", "createdAt") VALUES'
            " (%(c)s, %(s)s, '{\"body\": \"reply\"}', '2026-01-01 00:01:00.5+00', '2026-01-01 00:01:00.5+00'),"
            " (%(c)s, %(s)s, '{\"body\": \"tap\"}', '2026-01-01 00:01:00+00', '2026-01-01 00:01:00.7+00'),"
            " (%(c)s, %(s)s, '{\"body\": \"late\"}', '2026-01-01 00:00:30+00', '2026-01-01 00:01:01+00')"
            " RETURNING id, content->>'body'",
            {"c": conv_id, "s": sender[0]},
        ).fetchall()
    reply = next(str(i) for i, body in added if body == "reply")
    missed = (await client.get(f"/api/conversations/{conv_id}/messages", params={"after": reply})).json()
    assert [m["content"]["body"] for m in missed["items"]] == ["tap", "late"]

    other = await _conversation_with_messages(client, database_url, 2, phones=("+14155550115", "+14155550116"))
    foreign = (await client.get(f"/api/conversations/{other}/messages")).json()["items"][0]["id"]
    for bad in (foreign, "not-an-id", "00000000-0000-0000-0000-000000000000"):
        refused = await client.get(f"/api/conversations/{conv_id}/messages", params={"after": bad})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_cursor", bad
    missing = await client.get(
        "/api/conversations/00000000-0000-0000-0000-000000000001/messages", params={"after": "not-an-id"}
    )
    assert missing.status_code == 404
    first = (await client.get(f"/api/conversations/{conv_id}/messages", params={"limit": 2})).json()
    both = await client.get(
        f"/api/conversations/{conv_id}/messages", params={"after": seen["id"], "cursor": first["nextCursor"]}
    )
    assert both.status_code == 422


async def test_a_conversation_just_made_lists_first_not_last(client: httpx.AsyncClient, database_url: str) -> None:
    """A conversation without a message yet (an operator opened it to write first) was listed after every other,
    so whoever had just made it could not find it. It goes by when it was made among the others' last messages."""
    await client.post("/api/chatbots", json={"name": "Bot"})
    with_messages = await _conversation_with_messages(client, database_url, 3)  # its last message: 2026-01-01
    users = (await client.get("/api/users")).json()["items"]
    empty = (await client.post("/api/conversations", json={"participantIds": [users[0]["id"]]})).json()["id"]
    first = (await client.get("/api/conversations", params={"limit": 1})).json()
    assert [c["id"] for c in first["items"]] == [empty]
    second = (
        await client.get("/api/conversations", params={"limit": 1, "cursor": first["nextCursor"]})
    ).json()
    assert [c["id"] for c in second["items"]] == [with_messages] and second["nextCursor"] is None


async def test_the_inbox_pages_by_activity_without_gaps_or_repeats(client: httpx.AsyncClient, database_url: str) -> None:
    """Conversations with and without messages, interleaved by time, with ties on the time: every page size walks
    them in one order (last message's time, or when made; then id, newest first), each once."""
    users = [(await client.post("/api/users", json={"name": f"U{i}", "phoneNumber": f"+1415555{i:04d}"})).json()
             for i in range(12)]
    made = [(await client.post("/api/conversations", json={"participantIds": [u["id"]]})).json()["id"] for u in users]
    times = ["2026-03-01T10:00:00+00:00", "2026-03-01T10:00:00+00:00", "2026-03-01T09:00:00+00:00"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        for i, conversation in enumerate(made):
            at = times[i % 3]
            if i % 2:  # odd ones have a message (the trigger sets lastMessageAt), made long before it
                conn.execute('UPDATE conversations SET "createdAt" = %s WHERE id = %s', ("2025-01-01T00:00:00Z", conversation))
                conn.execute('INSERT INTO messages ("conversationId", "senderId", content, "timestamp")'
                             " VALUES (%s, %s, '{\"body\": \"hi\"}', %s)", (conversation, users[i]["id"], at))
            else:  # even ones have none: made at that time
                conn.execute('UPDATE conversations SET "createdAt" = %s WHERE id = %s', (at, conversation))
        rows = conn.execute('SELECT id, COALESCE("lastMessageAt", "createdAt") FROM conversations').fetchall()
    expected = [str(i) for i, _ in sorted(rows, key=lambda r: (r[1], str(r[0])), reverse=True)]
    assert sum(1 for c in made if c in expected[:4]) == 4  # the 10:00 ones, with and without a message, lead
    for limit in (1, 2, 3, 5, 12, 50):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/conversations", params=params)).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == expected, limit
    # A cursor from before this order (the list's tail of conversations without a message had none of a time) goes
    # on after its conversation.
    tail = expected[5]
    old = base64.urlsafe_b64encode(json.dumps([None, tail, "conversations"]).encode()).decode().rstrip("=")
    after = (await client.get("/api/conversations", params={"cursor": old})).json()
    assert [c["id"] for c in after["items"]] == expected[6:]
    gone = base64.urlsafe_b64encode(json.dumps([None, str(uuid.uuid4()), "conversations"]).encode()).decode()
    assert (await client.get("/api/conversations", params={"cursor": gone})).status_code == 400


async def test_conversation_with_unknown_participant_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/conversations", json={"participantIds": [str(uuid.uuid4())]})
    assert response.status_code == 422


async def test_deleting_a_user_with_messages_is_a_conflict_not_a_500(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/api/chatbots", json={"name": "Bot"})
    await _conversation_with_messages(client, database_url, 1)
    users = (await client.get("/api/users")).json()["items"]
    sender = next(u for u in users if u["phoneNumber"] == "+14155550111")
    response = await client.delete(f"/api/users/{sender['id']}")
    assert response.status_code == 409
    assert (await client.get(f"/api/users/{sender['id']}")).status_code == 200


async def test_whatsapp_config_is_masked_encrypted_and_single(
    client: httpx.AsyncClient, database_url: str
) -> None:
    assert (await client.get("/api/whatsapp-config")).status_code == 404
    body = {
        "phoneNumberId": "111",
        "businessAccountId": "222",
        "accessToken": "EAAG-very-secret-token",
        "webhookVerifyToken": "verify-me",
        "appSecret": "app-secret-value",
    }
    put = await client.put("/api/whatsapp-config", json=body)
    assert put.status_code == 200, put.text
    shown = put.json()
    assert "very-secret" not in put.text and "app-secret-value" not in put.text
    assert shown["accessToken"] == "********" and shown["appSecret"] == "********"
    assert shown["webhookVerifyToken"] == "verify-me" and shown["isActive"] is True
    with psycopg.connect(database_url) as conn:
        stored = conn.execute('SELECT "accessToken", "appSecret" FROM whatsapp_config').fetchone()
    assert (
        stored is not None
        and "very-secret" not in str(stored[0])
        and "app-secret-value" not in str(stored[1])
    )

    # Same number: updated in place, secrets kept when omitted.
    again = await client.put(
        "/api/whatsapp-config", json={k: v for k, v in body.items() if k not in ("accessToken", "appSecret")}
    )
    assert again.status_code == 200 and again.json()["id"] == shown["id"]
    # What GET shows, sent back whole: the mask is no secret, the stored ones stay.
    shown_now = (await client.get("/api/whatsapp-config")).json()
    echoed = await client.put("/api/whatsapp-config", json={k: shown_now[k] for k in body})
    assert echoed.status_code == 200, echoed.text
    with psycopg.connect(database_url) as conn:
        assert conn.execute('SELECT "accessToken", "appSecret" FROM whatsapp_config').fetchone() == stored
    masked_new = await client.put("/api/whatsapp-config", json={k: shown_now[k] for k in body} | {"phoneNumberId": "9"})
    assert masked_new.status_code == 422
    assert [d["field"] for d in masked_new.json()["error"]["details"]] == ["accessToken", "appSecret"]
    # Another number replaces it as the one active config.
    other = await client.put("/api/whatsapp-config", json=body | {"phoneNumberId": "333"})
    assert other.status_code == 200 and other.json()["id"] != shown["id"]
    with psycopg.connect(database_url) as conn:
        active = conn.execute('SELECT count(*) FROM whatsapp_config WHERE "isActive"').fetchone()
    assert active == (1,)
    missing_token = await client.put(
        "/api/whatsapp-config",
        json={"phoneNumberId": "444", "businessAccountId": "2", "webhookVerifyToken": "v"},
    )
    assert missing_token.status_code == 422
    assert (await client.delete("/api/whatsapp-config")).status_code == 204
    assert (await client.get("/api/whatsapp-config")).status_code == 404


async def test_a_number_has_its_own_sending_limit(client: httpx.AsyncClient, database_url: str) -> None:
    """`messagesPerSecond`: Meta's tier of this number; null is the server's default; kept when omitted."""
    base = {"phoneNumberId": "777", "businessAccountId": "1", "accessToken": "t", "webhookVerifyToken": "v"}
    default = (await client.put("/api/whatsapp-config", json=base)).json()
    assert default["messagesPerSecond"] is None
    tier = (await client.put("/api/whatsapp-config", json=base | {"messagesPerSecond": 1000})).json()
    assert tier["messagesPerSecond"] == 1000 and tier["id"] == default["id"]
    assert (await client.put("/api/whatsapp-config", json=base)).json()["messagesPerSecond"] == 1000
    for bad in (0, 10_001, "80", 1.5, True):
        refused = await client.put("/api/whatsapp-config", json=base | {"messagesPerSecond": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["details"][0]["field"] == "messagesPerSecond"
    assert (await client.get("/api/whatsapp-config")).json()["messagesPerSecond"] == 1000
    assert (await client.put("/api/whatsapp-config", json=base | {"messagesPerSecond": None})).json()[
        "messagesPerSecond"
    ] is None
    # Another number starts from the server's default, whatever the last one had.
    await client.put("/api/whatsapp-config", json=base | {"messagesPerSecond": 500})
    other = (await client.put("/api/whatsapp-config", json=base | {"phoneNumberId": "778"})).json()
    assert other["messagesPerSecond"] is None
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute('UPDATE whatsapp_config SET "messagesPerSecond" = 0')


async def test_a_config_that_could_never_send_is_refused(client: httpx.AsyncClient) -> None:
    """The phone number id is a path segment of every Graph API call ("../../x?" sent the token elsewhere), and the
    token an Authorization header (a line break or a non-ASCII letter failed every send): both refused at PUT. So are
    an app secret and a verify token pasted with a line break or spaces."""
    base = {"phoneNumberId": "777", "businessAccountId": "1", "accessToken": "t", "webhookVerifyToken": "v",
            "appSecret": "s"}
    bad = [
        ("phoneNumberId", "../../_simulator/reset?x="), ("phoneNumberId", "%2e%2e"), ("phoneNumberId", "a/b#c"),
        ("businessAccountId", "1/2"), ("accessToken", "a\nb"), ("accessToken", "a b"), ("accessToken", "\u00e9\u20ac"),
        ("accessToken", "a\u007fb"), ("appSecret", " \t"), ("webhookVerifyToken", "   "),
        ("webhookVerifyToken", "v\u0000"), ("graphApiUrl", "http://h/\u0000"),
        # Each stored as given once, then every webhook was refused (403) or the handshake failed.
        ("appSecret", "demo-app-secret\n"), ("appSecret", " demo-app-secret"), ("appSecret", "a b"),
        ("appSecret", "\u0007"), ("appSecret", "\u0000"), ("webhookVerifyToken", "v\n"), ("webhookVerifyToken", " v"),
        ("webhookVerifyToken", "a\u0007b"),
    ]
    for field, value in bad:
        refused = await client.put("/api/whatsapp-config", json=base | {field: value})
        assert refused.status_code == 422, (field, value, refused.text)
        assert refused.json()["error"]["details"][0]["field"] == field
    assert (await client.get("/api/whatsapp-config")).status_code == 404
    assert (await client.put("/api/whatsapp-config", json=base)).status_code == 200


async def test_openapi_is_served(anon_client: httpx.AsyncClient) -> None:
    spec = (await anon_client.get("/openapi.json")).json()
    assert "/api/conversations/{conversation_id}/messages" in spec["paths"]
    assert (await anon_client.get("/docs")).status_code == 200
    # The token scheme is declared, so /docs can send requests with a token (its Authorize button).
    assert spec["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    assert spec["paths"]["/api/conversations"]["get"]["security"] == [{"apiToken": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    # Errors are documented with the body they really have ({"error": {...}}, not FastAPI's {"detail": [...]}).
    responses = spec["paths"]["/api/users"]["post"]["responses"]
    assert {"400", "401", "413", "415", "422"} <= set(responses)
    assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(spec["components"]["schemas"]["ErrorResponse"]["properties"]) == {"error"}
    # The webhook's 200 shows the body it really has, not a bare "string".
    stored = spec["paths"]["/webhooks/whatsapp"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    name = stored["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][name]["properties"]) == {"status", "messages", "duplicates", "statuses"}


async def test_every_answer_a_route_gives_is_in_its_openapi_description(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    """Each /api route with an id in its path, called with an id that names nothing, answers a status its OpenAPI
    operation documents (404, with the ErrorResponse body); so do an If-Match that no longer holds (412), a phone
    number taken (409), and no WhatsApp config (404)."""
    spec = (await anon_client.get("/openapi.json")).json()

    def documented(method: str, path: str, status: int) -> bool:
        response = spec["paths"][path][method].get("responses", {}).get(str(status))
        return response is not None and "ErrorResponse" in json.dumps(response)

    bodies = {"post": {}, "patch": {}, "put": {}}
    called = 0
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/") or "{" not in path:
            continue
        concrete = path.split("{")[0] + str(uuid.uuid4()) + path.split("}", 1)[1]
        for method in operations:
            answer = await client.request(method.upper(), concrete, json=bodies.get(method))
            assert answer.status_code != 500, (method, path)
            if answer.status_code in (404, 422):
                called += 1
                assert documented(method, path, answer.status_code), (method, path, answer.status_code)
                assert set(answer.json()) == {"error"}
    assert called >= 20

    bot = (await client.post("/api/chatbots", json={"name": "Doc check", "nodes": [], "edges": []})).json()
    stale = await client.patch(f"/api/chatbots/{bot['id']}", json={"name": "x"}, headers={"If-Match": '"stale"'})
    assert stale.status_code == 412 and documented("patch", "/api/chatbots/{chatbot_id}", 412)
    phone = "+15557770001"
    assert (await client.post("/api/users", json={"phoneNumber": phone, "name": "A"})).status_code == 201
    taken = await client.post("/api/users", json={"phoneNumber": phone, "name": "B"})
    assert taken.status_code == 409 and documented("post", "/api/users", 409)
    assert (await client.get("/api/whatsapp-config")).status_code == 404
    assert documented("get", "/api/whatsapp-config", 404)


async def test_updating_the_same_number_keeps_its_graph_api_address_unless_given(client: httpx.AsyncClient) -> None:
    base = {"phoneNumberId": "555", "businessAccountId": "1", "accessToken": "t", "webhookVerifyToken": "v"}
    first = (await client.put("/api/whatsapp-config", json=base | {"graphApiUrl": "http://127.0.0.1:8081"})).json()
    assert first["graphApiUrl"] == "http://127.0.0.1:8081"
    kept = (await client.put("/api/whatsapp-config", json=base | {"appSecret": "new-secret"})).json()
    assert kept["graphApiUrl"] == "http://127.0.0.1:8081" and kept["id"] == first["id"]
    cleared = (await client.put("/api/whatsapp-config", json=base | {"graphApiUrl": None})).json()
    assert cleared["graphApiUrl"] is None
    other = (await client.put("/api/whatsapp-config", json=base | {"phoneNumberId": "556"})).json()
    assert other["graphApiUrl"] is None


async def test_a_value_of_the_wrong_type_or_a_null_that_means_nothing_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    """No "yes" for true, no 0 for false, and no null for a field that has no null value: a partial update
    leaves a field out to keep it."""
    bot = (await client.post("/api/chatbots", json={"name": "Bot"})).json()
    user = (await client.post("/api/users", json={"phoneNumber": "+14155550121", "name": "Ann"})).json()
    conversation = (await client.post("/api/conversations", json={"participantIds": [user["id"]]})).json()
    for url, body in (
        (f"/api/chatbots/{bot['id']}", {"isActive": "yes"}),
        (f"/api/chatbots/{bot['id']}", {"isActive": 0}),
        (f"/api/chatbots/{bot['id']}", {"name": None}),
        (f"/api/chatbots/{bot['id']}", {"nodes": None}),
        (f"/api/users/{user['id']}", {"name": None}),
        (f"/api/users/{user['id']}", {"phoneNumber": None}),
    ):
        response = await client.patch(url, json=body)
        assert response.status_code == 422, (url, body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        # The detail names the field (a null is refused per field, not for the body as a whole).
        assert [d["field"] for d in response.json()["error"]["details"]] == list(body), response.text
    for value in ("yes", 1, None):
        handoff = await client.post(f"/api/conversations/{conversation['id']}/handoff", json={"handedOff": value})
        assert handoff.status_code == 422, (value, handoff.text)
    assert (await client.get(f"/api/chatbots/{bot['id']}")).json()["isActive"] is True
    assert (await client.get(f"/api/users/{user['id']}")).json()["name"] == "Ann"
    assert (await client.get(f"/api/conversations/{conversation['id']}")).json()["isHandedOff"] is False
    # Null where null is a value clears it.
    cleared = await client.patch(f"/api/chatbots/{bot['id']}", json={"description": None, "isActive": False})
    assert cleared.status_code == 200 and cleared.json()["isActive"] is False and cleared.json()["description"] is None


async def test_a_chatbot_never_published_cannot_be_switched_on(client: httpx.AsyncClient) -> None:
    nodes = [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
             {"id": "j", "type": "jump", "position": {"x": 0, "y": 0}, "data": {"targetNodeId": "nowhere"}}]
    bot = (await client.post("/api/chatbots", json={"name": "Draft", "nodes": nodes, "isActive": False})).json()
    refused = await client.patch(f"/api/chatbots/{bot['id']}", json={"isActive": True})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_published", refused.text
    assert (await client.get(f"/api/chatbots/{bot['id']}")).json()["isActive"] is False
    valid = {"nodes": [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
                       {"id": "end", "type": "end", "position": {"x": 0, "y": 0}, "data": {"text": "Bye"}}],
             "edges": [{"id": "e", "source": "start", "target": "end"}]}
    good = (await client.post("/api/chatbots", json={"name": "Good", "isActive": False, **valid})).json()
    published = await client.patch(f"/api/chatbots/{good['id']}", json={"isActive": True, "status": "active"})
    assert published.status_code == 200 and published.json()["isActive"] is True


async def test_a_switched_off_draft_is_switched_on_by_its_first_publish(client: httpx.AsyncClient) -> None:
    valid = {"nodes": [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
                       {"id": "end", "type": "end", "position": {"x": 0, "y": 0}, "data": {"text": "Bye"}}],
             "edges": [{"id": "e", "source": "start", "target": "end"}]}
    default = (await client.post("/api/chatbots", json={"name": "Default", **valid})).json()
    assert (default["status"], default["isActive"]) == ("draft", True)  # the seed's defaults
    draft = (await client.post("/api/chatbots", json={"name": "Draft", "isActive": False, **valid})).json()
    assert (draft["status"], draft["isActive"]) == ("draft", False)
    first = (await client.post(f"/api/chatbots/{draft['id']}/publish")).json()
    assert (first["status"], first["isActive"]) == ("active", True)  # publishing it is putting it live
    # Switched off by its operator, a later publish leaves it off.
    assert (await client.patch(f"/api/chatbots/{draft['id']}", json={"isActive": False})).status_code == 200
    again = (await client.post(f"/api/chatbots/{draft['id']}/publish")).json()
    assert again["isActive"] is False and again["publishedAt"] >= first["publishedAt"]
    live = await client.post("/api/chatbots", json={"name": "Live", "status": "active", **valid})
    assert live.status_code == 201 and live.json()["isActive"] is True


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "http://127.0.0.1:port", "http://:8081",
                                 "http://a\u200bb.com", "http://bücher.example"])
async def test_a_graph_api_address_the_client_could_not_call_is_422(client: httpx.AsyncClient, url: str) -> None:
    base = {"phoneNumberId": "555", "businessAccountId": "1", "accessToken": "t", "webhookVerifyToken": "v"}
    response = await client.put("/api/whatsapp-config", json=base | {"graphApiUrl": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "graphApiUrl"
    assert (await client.get("/api/whatsapp-config")).status_code == 404


async def test_the_sign_in_link_survives_restarts_and_other_processes_until_revoked(
    client: httpx.AsyncClient, app_context: AppContext, tmp_path: Path
) -> None:
    """`serve` prints the token kept in its data folder while it is valid: restarting, or starting a second
    process, signs no operator out; revoking it makes the next start print a new one."""
    from whatsapp_builder.auth.service import sign_in_token

    async def started(folder: Path) -> str:
        async with app_context.sessions() as session:
            return await sign_in_token(session, folder)

    first = await started(tmp_path)
    assert (tmp_path / "sign-in.token").stat().st_mode & 0o077 == 0
    assert await started(tmp_path) == first  # a restart
    elsewhere = tmp_path / "other-host"
    elsewhere.mkdir()
    second = await started(elsewhere)  # another host's process, with its own data folder
    assert second != first
    for token in (first, second):
        assert (await client.get("/api/users", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    listed = (await client.get("/api/tokens")).json()["items"]
    [link] = [t for t in listed if t["prefix"] == first[: len(t["prefix"])] and t["name"] == "sign-in link (serve)"]
    assert (await client.delete(f"/api/tokens/{link['id']}")).status_code == 204
    renewed = await started(tmp_path)
    assert renewed not in (first, second)
    assert (await client.get("/api/users", headers={"Authorization": f"Bearer {renewed}"})).status_code == 200
    assert (await client.get("/api/users", headers={"Authorization": f"Bearer {second}"})).status_code == 200


async def test_renaming_a_user_to_half_a_surrogate_pair_is_422(client: httpx.AsyncClient) -> None:
    user = (await client.post("/api/users", json={"name": "Bo", "phoneNumber": "+14155550145"})).json()
    response = await client.patch(
        f"/api/users/{user['id']}", content=b'{"name": "B\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "name"
    assert (await client.get(f"/api/users/{user['id']}")).json()["name"] == "Bo"


async def test_a_name_of_only_spaces_is_called_blank(client: httpx.AsyncClient) -> None:
    """pydantic strips first, then says "at least 1 character" about a name the user typed 3 spaces into."""
    for path, body, field in (
        ("/api/chatbots", {"name": "   "}, "name"),
        ("/api/tokens", {"name": "   "}, "name"),
        ("/api/conversations", {"customerPhoneNumber": "+15551234567", "customerName": " "}, "customerName"),
    ):
        response = await client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        details = response.json()["error"]["details"]
        assert {"field": field, "message": "must not be empty or blank"} in [
            {"field": d["field"], "message": d["message"]} for d in details
        ], (path, details)


async def test_a_name_too_long_is_counted_in_characters(client: httpx.AsyncClient) -> None:
    """Not "at most 100 items", as pydantic said when the length was checked after the name was stripped."""
    for path, body, field in (
        ("/api/users", {"name": "x" * 101, "phoneNumber": "+14155550146"}, "name"),
        ("/api/tokens", {"name": "x" * 101}, "name"),
        ("/api/conversations", {"customerPhoneNumber": "+15551234567", "customerName": "x" * 150}, "customerName"),
    ):
        response = await client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        messages = [d["message"] for d in response.json()["error"]["details"] if d["field"] == field]
        assert messages == ["String should have at most 100 characters"], (path, messages)


async def test_a_search_holding_nul_names_the_query_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/conversations", params={"q": "a\x00b"})
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == ["query.q"]
