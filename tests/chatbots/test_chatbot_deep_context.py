"""Variables nested too deeply: a test run through the API with a deep HTTP answer, and the context API on
variables stored deep before they were cut."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import pytest

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows.nesting import json_depth_exceeds


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


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

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
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
