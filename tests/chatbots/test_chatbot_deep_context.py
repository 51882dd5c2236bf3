"""Variables nested too deeply: a test run through the API with a deep HTTP answer, and the context API on
variables stored deep before they were cut."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows.nesting import json_depth_exceeds


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


async def json_api(answer: Callable[[bytes], bytes]) -> asyncio.Server:
    """A local HTTP API for HTTP request nodes: each request's body in, `answer(body)` out as JSON."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), b"0"))
        body = answer(await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


async def test_a_test_run_whose_api_answers_deep_json_is_served(
    client: httpx.AsyncClient, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_context.settings, "flow_http_allow_private", True)
    body = json.dumps({"data": nested(400)}).encode()
    server = await json_api(lambda _: body)
    port = server.sockets[0].getsockname()[1]
    graph = {
        "nodes": [node("start", "start", triggerKeywords=["hi"]),
                  node("call", "http_request", method="GET", url=f"http://127.0.0.1:{port}/",
                       responseMapping=[{"variable": "resp", "path": ""}]),
                  node("done", "end", text="done")],
        "edges": [{"id": "e1", "source": "start", "target": "call"},
                  {"id": "e2", "source": "call", "target": "done", "sourceHandle": "success"}],
    }
    async with server:
        chatbot = (await client.post("/api/chatbots", json={"name": "Deep API", **graph})).json()
        response = await client.post(f"/api/chatbots/{chatbot['id']}/test-run", json={"inputs": ["hi"]})
    assert response.status_code == 200, response.text
    (step,) = response.json()["steps"]
    assert step["messages"] == [{"type": "text", "content": {"body": "done"}}]
    assert step["variables"]["resp"]["data"] and not json_depth_exceeds(step["variables"]["resp"])


async def test_the_context_api_cuts_variables_stored_too_deep(client: httpx.AsyncClient, database_url: str) -> None:
    chatbot = (await client.post("/api/chatbots", json={"name": "Bot"})).json()
    variables = {"resp": {"data": nested(400)}, "name": "Ana"}
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO conversations DEFAULT VALUES RETURNING id").fetchone()
        assert row is not None
        conn.execute(
            'INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId", "isActive", variables)'
            " VALUES (%s, %s, 'call', true, %s::jsonb)",
            (row[0], chatbot["id"], json.dumps(variables)),
        )
    response = await client.get(f"/api/conversations/{row[0]}/context")
    assert response.status_code == 200, response.text
    served = response.json()["variables"]
    assert served["name"] == "Ana" and not json_depth_exceeds(served["resp"])
    with psycopg.connect(database_url) as conn:  # what is stored stays as it was
        stored = conn.execute("SELECT variables FROM conversation_contexts").fetchone()
    assert stored is not None and stored[0] == variables


async def test_a_test_chat_calls_each_api_request_once_though_it_resends_its_inputs(
    client: httpx.AsyncClient, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test panel resends the chat's inputs every turn: a POST node (creating a ticket, say) ran again for
    every later message. The previous run's httpCalls, given back as httpReplay, answer the same requests."""
    monkeypatch.setattr(app_context.settings, "flow_http_allow_private", True)
    received: list[bytes] = []

    def ticket(body: bytes) -> bytes:
        received.append(body)
        return json.dumps({"ticket": len(received)}).encode()

    server = await json_api(ticket)
    port = server.sockets[0].getsockname()[1]
    graph = {
        "nodes": [node("start", "start", triggerKeywords=["help"]),
                  node("ask", "question", text="Your order number?", variable="order", validation={"type": "text"}),
                  node("call", "http_request", method="POST", url=f"http://127.0.0.1:{port}/tickets",
                       body='{"order": "{{order}}"}', responseMapping=[{"variable": "ticket", "path": "ticket"}]),
                  node("more", "question", text="Ticket {{ticket}}. Anything else?", variable="more",
                       validation={"type": "text"}),
                  node("done", "end", text="Bye, ticket {{ticket}}")],
        "edges": [{"id": "e1", "source": "start", "target": "ask"},
                  {"id": "e2", "source": "ask", "target": "call"},
                  {"id": "e3", "source": "call", "target": "more", "sourceHandle": "success"},
                  {"id": "e4", "source": "more", "target": "done"}],
    }
    async with server:
        chatbot = (await client.post("/api/chatbots", json={"name": "Tickets", **graph})).json()
        inputs: list[str] = []
        replay: list[Any] = []
        for said in ("help", "A-123", "no, thanks"):
            inputs.append(said)
            run = await client.post(f"/api/chatbots/{chatbot['id']}/test-run",
                                    json={"inputs": inputs, "httpReplay": replay})
            assert run.status_code == 200, run.text
            replay = run.json()["httpCalls"]
        assert len(received) == 1 and json.loads(received[0]) == {"order": "A-123"}
        assert run.json()["steps"][-1]["messages"] == [{"type": "text", "content": {"body": "Bye, ticket 1"}}]
        assert [c["replayed"] for c in replay] == [True]
        # A record that holds no result (the client's to give) is not taken: the API is asked.
        forged = [{"request": replay[0]["request"], "result": {"ok": "yes"}}]
        run = await client.post(f"/api/chatbots/{chatbot['id']}/test-run",
                                json={"inputs": inputs, "httpReplay": forged})
        assert run.status_code == 200 and len(received) == 2, run.text
