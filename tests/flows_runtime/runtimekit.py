"""Helpers for the runner tests (kept out of conftest.py on purpose)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    return {"id": f"{source}-{handle or 'default'}-{target}", "source": source, "target": target,
            "sourceHandle": handle}


async def publish_bot(client: httpx.AsyncClient, name: str, nodes: list[dict[str, Any]],
                      edges: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/chatbots", json={"name": name, "nodes": nodes, "edges": edges,
                                                        "status": "active"} | extra)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["validation"]["errors"] == [], body["validation"]
    return body


def body_of(item: dict[str, Any]) -> str:
    """The text a customer reads in a message recorded by the simulator (or its type)."""
    payload = item["payload"]
    if payload["type"] == "text":
        return str(payload["text"]["body"])
    if payload["type"] == "interactive":
        return str(payload["interactive"]["body"]["text"])
    return str(payload["type"])


def bodies(items: list[dict[str, Any]]) -> list[str]:
    return [body_of(item) for item in items]


def contexts(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            'SELECT id, "conversationId", "chatbotId"::text, "currentNodeId", variables, "nodeHistory",'
            ' "isActive", "engineState" FROM conversation_contexts ORDER BY "createdAt", id'
        ).fetchall()
    keys = ("id", "conversationId", "chatbotId", "currentNodeId", "variables", "nodeHistory", "isActive",
            "engineState")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def scalar(database_url: str, sql: str, *args: object) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, args).fetchone()
    return None if row is None else row[0]


def outbound_settled(database_url: str) -> bool:
    """Every outbound message has left the outbox (no pending one) and no flow or delivery job waits."""
    with psycopg.connect(database_url) as conn:
        pending = conn.execute("SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'pending'")
        jobs = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND task_name <> 'maintenance'"
        )
        return pending.fetchone() == (0,) and jobs.fetchone() == (0,)
