"""JSON nested too deeply in chatbots: refused on input with a 422 and nothing stored; rows stored before the limit
existed answer 4xx, never 500, and are never half-changed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from whatsapp_builder.flows.nesting import MAX_JSON_DEPTH


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


def edge(edge_id: str, source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    return {"id": edge_id, "source": source, "target": target, "sourceHandle": handle}


def nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def graph(body: Any = None) -> dict[str, Any]:
    call = node("call", "http_request", method="POST", url="https://example.com/hook", body=body or {"a": 1})
    return {
        "nodes": [node("start", "start", triggerKeywords=["hi"]), call, node("bye", "end", text="Bye")],
        "edges": [edge("e1", "start", "call"), edge("e2", "call", "bye", "success"), edge("e3", "call", "bye", "error")],
    }


def count(database_url: str, sql: str, *args: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def assert_too_deep(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in ("validation_error", "nested_too_deeply"), error
    assert "levels deep" in json.dumps(error), error


# The node list, a node, its data and the body's own levels: the body may nest MAX_JSON_DEPTH - 3 levels.
DEEPEST_BODY = MAX_JSON_DEPTH - 3


async def test_deep_input_is_refused_everywhere_and_nothing_is_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    deep = graph(nested(500))
    assert_too_deep(await client.post("/api/chatbots", json={"name": "Deep", **deep}))
    assert_too_deep(await client.post("/api/chatbots", json={"name": "Deep", "status": "active", **deep}))
    assert_too_deep(await client.post("/api/chatbots", json={"name": "Meta", "metadata": {"x": nested(300)}}))
    assert_too_deep(await client.post("/api/chatbots", json={"name": "Edges", "edges": [{"id": nested(40)}]}))
    assert_too_deep(await client.post("/api/chatbots/import", json={"name": "Deep", **deep}))
    assert_too_deep(await client.post("/api/chatbots/import?activate=true", json={"name": "Deep", **deep}))
    assert_too_deep(await client.post("/api/flows/validate", json={"name": "Deep", **deep}))
    assert count(database_url, "SELECT count(*) FROM chatbots") == 0

    kept = await client.post("/api/chatbots", json={"name": "Kept", **graph()})
    assert kept.status_code == 201, kept.text
    chatbot_id = kept.json()["id"]
    assert_too_deep(await client.patch(f"/api/chatbots/{chatbot_id}", json={"name": "Changed", **deep}))
    assert_too_deep(await client.patch(f"/api/chatbots/{chatbot_id}", json={"metadata": {"x": nested(MAX_JSON_DEPTH)}}))
    after = (await client.get(f"/api/chatbots/{chatbot_id}")).json()
    assert after["name"] == "Kept" and after["nodes"] == graph()["nodes"] and after["metadata"] is None

    # Far deeper than Python's own JSON parser goes: a clean 4xx as well.
    raw = b'{"name": "x", "nodes": [{"id": "a", "type": "start", "data": {"b": ' + b"[" * 100_000 + b"]" * 100_000
    raw += b"}}]}"
    response = await client.post("/api/chatbots", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert count(database_url, "SELECT count(*) FROM chatbots") == 1


async def test_nesting_up_to_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    fine = graph(nested(DEEPEST_BODY))
    saved = await client.post("/api/chatbots", json={"name": "Fine", "metadata": {"x": nested(MAX_JSON_DEPTH - 1)},
                                                     "status": "active", **fine})
    assert saved.status_code == 201, saved.text
    chatbot_id = saved.json()["id"]
    assert (await client.get(f"/api/chatbots/{chatbot_id}")).json()["nodes"] == fine["nodes"]
    exported = await client.get(f"/api/chatbots/{chatbot_id}/export")
    assert exported.status_code == 200 and exported.json()["nodes"] == fine["nodes"]
    assert (await client.post("/api/chatbots/import", json=exported.json())).status_code == 201
    assert (await client.post(f"/api/chatbots/{chatbot_id}/duplicate")).status_code == 201
    assert_too_deep(await client.post("/api/chatbots", json={"name": "One more", **graph(nested(DEEPEST_BODY + 1))}))


@pytest.mark.parametrize("column", ["nodes", "metadata"])
async def test_a_deep_row_stored_before_the_limit_never_answers_500(
    client: httpx.AsyncClient, database_url: str, column: str
) -> None:
    saved = await client.post("/api/chatbots", json={"name": "Legacy", **graph()})
    chatbot_id = saved.json()["id"]
    legacy = graph(nested(500))["nodes"] if column == "nodes" else {"x": nested(500)}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE chatbots SET {column} = %s::jsonb WHERE id = %s", (json.dumps(legacy), chatbot_id))

    assert_too_deep(await client.get(f"/api/chatbots/{chatbot_id}"))
    assert_too_deep(await client.get(f"/api/chatbots/{chatbot_id}/export"))
    assert_too_deep(await client.post(f"/api/chatbots/{chatbot_id}/duplicate"))
    assert_too_deep(await client.post(f"/api/chatbots/{chatbot_id}/publish"))
    assert_too_deep(await client.patch(f"/api/chatbots/{chatbot_id}", json={"name": "Renamed"}))
    assert_too_deep(await client.patch(f"/api/chatbots/{chatbot_id}", json={"status": "active"}))
    assert count(database_url, "SELECT count(*) FROM chatbots") == 1
    assert count(
        database_url,
        "SELECT count(*) FROM chatbots WHERE name = 'Legacy' AND status = 'draft' AND \"publishedNodes\" IS NULL",
    ) == 1
    # The way out: replace the deep part.
    fix = {"nodes": graph()["nodes"]} if column == "nodes" else {"metadata": {"x": 1}}
    fixed = await client.patch(f"/api/chatbots/{chatbot_id}", json=fix)
    assert fixed.status_code == 200, fixed.text
    assert (await client.post(f"/api/chatbots/{chatbot_id}/publish")).status_code == 200
    assert (await client.get(f"/api/chatbots/{chatbot_id}/export")).status_code == 200
    assert (await client.get(f"/api/chatbots/{uuid.uuid4()}")).status_code == 404
