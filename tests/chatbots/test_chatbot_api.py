"""The chatbot API through the ASGI app, against real PostgreSQL: drafts, validation, publishing, import/export,
test runs and bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

DEMO_FILE = Path(__file__).resolve().parents[2] / "examples" / "demo-chatbot.json"

NODE_TYPES = {"start", "message", "question", "buttons", "list", "condition", "set_variable", "http_request",
              "delay", "jump", "handoff", "end"}



def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}


def edge(edge_id: str, source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    return {"id": edge_id, "source": source, "target": target, "sourceHandle": handle}


def demo() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return data


def valid_graph() -> dict[str, Any]:
    return {
        "nodes": [node("start", "start", triggerKeywords=["hi"]), node("hello", "message", text="Hello!"),
                  node("bye", "end", text="Bye")],
        "edges": [edge("e1", "start", "hello"), edge("e2", "hello", "bye")],
    }


def broken_graph() -> dict[str, Any]:
    """Five distinct problems: two start nodes, an edge to a missing node, a buttons node with 4 buttons (one of
    them with a 21-character title), and an edge leaving an unknown handle."""
    return {
        "nodes": [
            node("start1", "start"),
            node("start2", "start"),
            node("menu", "buttons", text="Pick one", buttons=[
                {"id": "a", "title": "A"}, {"id": "b", "title": "B"}, {"id": "c", "title": "C"},
                {"id": "d", "title": "x" * 21}]),
            node("bye", "end", text="Bye"),
        ],
        "edges": [
            edge("e-start", "start1", "menu"),
            edge("e-ghost", "start2", "ghost"),
            edge("e-handle", "menu", "bye", "nope"),
        ],
    }


def assert_every_problem_of_the_broken_graph(problems: list[dict[str, Any]]) -> None:
    def has(code: str, **where: Any) -> bool:
        return any(p["code"] == code and all(p.get(k) == v for k, v in where.items()) for p in problems)

    assert has("multiple_start_nodes", nodeId="start2") or has("multiple_start_nodes", nodeId="start1"), problems
    assert has("edge_target_missing", edgeId="e-ghost"), problems
    assert has("invalid_node_data", nodeId="menu", field="data.buttons"), problems
    assert has("invalid_node_data", nodeId="menu", field="data.buttons.3.title"), problems
    assert has("invalid_source_handle", edgeId="e-handle"), problems
    for problem in problems:
        assert problem["nodeId"] or problem["edgeId"], problem
        assert problem["message"], problem


def count(database_url: str, sql: str, *args: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/chatbots", json={"name": "Bot"} | body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_a_draft_with_an_invalid_graph_is_saved_with_its_problems_listed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    saved = await create(client, name="Broken", **broken_graph())
    assert saved["status"] == "draft"
    assert saved["publishedNodes"] is None and saved["publishedAt"] is None
    assert_every_problem_of_the_broken_graph(saved["validation"]["errors"])
    assert count(database_url, "SELECT count(*) FROM chatbots WHERE id = %s", saved["id"]) == 1
    fetched = (await client.get(f"/api/chatbots/{saved['id']}")).json()
    assert fetched["nodes"] == broken_graph()["nodes"] and fetched["edges"] == broken_graph()["edges"]
    stored = (await client.get(f"/api/chatbots/{saved['id']}/validate")).json()
    assert_every_problem_of_the_broken_graph(stored["errors"])


async def test_publishing_an_invalid_draft_lists_every_problem(client: httpx.AsyncClient) -> None:
    saved = await create(client, **broken_graph())
    response = await client.post(f"/api/chatbots/{saved['id']}/publish")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_flow"
    assert len(error["details"]) == len(saved["validation"]["errors"]) >= 5
    assert_every_problem_of_the_broken_graph(error["details"])
    after = (await client.get(f"/api/chatbots/{saved['id']}")).json()
    assert after["status"] == "draft" and after["publishedNodes"] is None


async def test_creating_an_active_chatbot_with_an_invalid_graph_stores_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await client.post("/api/chatbots", json={"name": "Active", "status": "active", **broken_graph()})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_flow"
    assert_every_problem_of_the_broken_graph(response.json()["error"]["details"])
    assert count(database_url, "SELECT count(*) FROM chatbots") == 0


async def test_publish_then_edit_the_draft_keeps_the_published_graph(client: httpx.AsyncClient) -> None:
    graph = valid_graph()
    saved = await create(client, **graph)
    assert saved["validation"]["errors"] == []
    published = await client.post(f"/api/chatbots/{saved['id']}/publish")
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["status"] == "active" and body["publishedAt"] is not None
    assert body["publishedNodes"] == graph["nodes"] and body["publishedEdges"] == graph["edges"]

    edited_nodes = [*graph["nodes"][:1], node("hello", "message", text="Changed"), graph["nodes"][2]]
    patched = await client.patch(f"/api/chatbots/{saved['id']}", json={"nodes": edited_nodes})
    assert patched.status_code == 200, patched.text
    assert patched.json()["nodes"] == edited_nodes
    after = (await client.get(f"/api/chatbots/{saved['id']}")).json()
    assert after["nodes"] == edited_nodes
    assert after["publishedNodes"] == graph["nodes"] and after["publishedEdges"] == graph["edges"]
    assert after["publishedAt"] == body["publishedAt"]

    # An invalid draft saved over a published bot does not touch what runs either.
    broken = await client.patch(f"/api/chatbots/{saved['id']}", json=broken_graph())
    assert broken.status_code == 200
    assert broken.json()["validation"]["errors"]
    assert (await client.get(f"/api/chatbots/{saved['id']}")).json()["publishedNodes"] == graph["nodes"]


async def test_patch_that_publishes_an_invalid_graph_changes_nothing(client: httpx.AsyncClient) -> None:
    graph = valid_graph()
    saved = await create(client, name="Keep", status="active", **graph)
    response = await client.patch(f"/api/chatbots/{saved['id']}",
                                  json={"name": "Renamed", "status": "active", **broken_graph()})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_flow"
    assert_every_problem_of_the_broken_graph(response.json()["error"]["details"])
    after = (await client.get(f"/api/chatbots/{saved['id']}")).json()
    assert after["name"] == "Keep" and after["nodes"] == graph["nodes"] and after["edges"] == graph["edges"]
    assert after["publishedNodes"] == graph["nodes"] and after["status"] == "active"
    assert after["publishedAt"] == saved["publishedAt"]


async def test_node_types_lists_the_twelve_types_with_json_schemas(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/flows/node-types")
    assert response.status_code == 200
    types = response.json()["nodeTypes"]
    assert set(types) == NODE_TYPES
    for name, schema in types.items():
        assert isinstance(schema, dict), name
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert schema["type"] == "object", name
        assert "properties" in schema, name
    assert types["delay"]["properties"]["seconds"]["maximum"] == 604800
    assert "buttons" in types["buttons"]["required"]


async def test_validate_endpoint_checks_without_saving(client: httpx.AsyncClient, database_url: str) -> None:
    bad = await client.post("/api/flows/validate", json={"name": "x", **broken_graph()})
    assert bad.status_code == 200, bad.text
    assert_every_problem_of_the_broken_graph(bad.json()["errors"])
    assert {w["code"] for w in bad.json()["warnings"]} >= {"unconnected_option"}
    good = await client.post("/api/flows/validate", json={"name": "x", **valid_graph()})
    assert good.status_code == 200 and good.json()["errors"] == []
    demo_report = await client.post("/api/flows/validate", json=demo())
    assert demo_report.json() == {"errors": [], "warnings": []}
    too_many = [node(f"n{i}", "message", text="x") for i in range(2001)]
    assert (await client.post("/api/flows/validate", json={"name": "x", "nodes": too_many})).status_code == 422
    # A graph alone is enough (no name needed); text that is no text (half a surrogate pair) is a 422, not a 500.
    nameless = await client.post("/api/flows/validate", json=broken_graph())
    assert nameless.status_code == 200 and nameless.json() == bad.json()
    half = b'{"nodes": [{"id": "q", "type": "question", "position": {"x": 0, "y": 0}, "data": {"text": "?",' \
           b' "variable": "v", "validation": {"type": "regex", "pattern": "\\ud800"}}}], "edges": []}'
    refused = await client.post("/api/flows/validate", content=half, headers={"Content-Type": "application/json"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error", refused.text
    # Settings an import would refuse are refused here too: a file that validates must import.
    bad_settings = await client.post("/api/flows/validate", json=demo() | {"metadata": {"sessionTimeoutMinutes": -1}})
    assert bad_settings.status_code == 422, bad_settings.text
    assert bad_settings.json()["error"]["details"][0]["field"] == "metadata"
    assert count(database_url, "SELECT count(*) FROM chatbots") == 0


async def test_duplicate_makes_a_draft_copy(client: httpx.AsyncClient) -> None:
    original = await create(client, name="Original", status="active", metadata={"sessionTimeoutMinutes": 5},
                            **valid_graph())
    response = await client.post(f"/api/chatbots/{original['id']}/duplicate")
    assert response.status_code == 201, response.text
    copy = response.json()
    assert copy["id"] != original["id"]
    assert copy["name"] == "Original (copy)"
    assert copy["nodes"] == original["nodes"] and copy["edges"] == original["edges"]
    assert copy["metadata"] == {"sessionTimeoutMinutes": 5}
    assert copy["status"] == "draft" and copy["isActive"] is False and copy["publishedNodes"] is None
    assert (await client.post(f"/api/chatbots/{uuid.uuid4()}/duplicate")).status_code == 404


async def test_export_import_round_trip(client: httpx.AsyncClient) -> None:
    imported = await client.post("/api/chatbots/import", json=demo())
    assert imported.status_code == 201, imported.text
    first = imported.json()
    assert first["status"] == "draft" and first["isActive"] is False  # nothing published: switched off
    assert first["validation"] == {"errors": [], "warnings": []}
    exported = await client.get(f"/api/chatbots/{first['id']}/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    file = exported.json()
    assert file["nodes"] == demo()["nodes"] and file["edges"] == demo()["edges"]
    assert file["name"] == demo()["name"] and file["metadata"] == demo()["metadata"]

    again = await client.post("/api/chatbots/import", params={"activate": "true"}, json=file)
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["id"] != first["id"]
    assert second["nodes"] == first["nodes"] and second["edges"] == first["edges"]
    assert second["status"] == "active" and second["isActive"] is True
    assert second["publishedNodes"] == first["nodes"]


async def test_a_first_publish_by_patch_switches_the_chatbot_on_as_publish_does(client: httpx.AsyncClient) -> None:
    imported = (await client.post("/api/chatbots/import", json=demo())).json()
    assert imported["isActive"] is False
    published = await client.patch(f"/api/chatbots/{imported['id']}", json={"status": "active"})
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "active" and published.json()["isActive"] is True
    # Later publishes leave the switch as the operator set it, and so does a first one that names it.
    off = await client.patch(f"/api/chatbots/{imported['id']}", json={"isActive": False})
    assert off.json()["isActive"] is False
    again = await client.patch(f"/api/chatbots/{imported['id']}", json={"status": "active"})
    assert again.json()["isActive"] is False
    other = (await client.post("/api/chatbots/import", json=demo())).json()
    named = await client.patch(f"/api/chatbots/{other['id']}", json={"status": "active", "isActive": False})
    assert named.json()["status"] == "active" and named.json()["isActive"] is False


async def test_import_and_activate_an_invalid_file_is_refused(client: httpx.AsyncClient, database_url: str) -> None:
    response = await client.post("/api/chatbots/import?activate=true", json={"name": "Broken", **broken_graph()})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_flow"
    assert_every_problem_of_the_broken_graph(response.json()["error"]["details"])
    assert count(database_url, "SELECT count(*) FROM chatbots") == 0
    # Without ?activate it is kept as a draft to fix.
    draft = await client.post("/api/chatbots/import", json={"name": "Broken", **broken_graph()})
    assert draft.status_code == 201 and draft.json()["status"] == "draft"
    # with what to fix before it can be published, as `POST /api/chatbots` answers
    assert_every_problem_of_the_broken_graph(draft.json()["validation"]["errors"])


async def test_test_run_of_the_demo(client: httpx.AsyncClient, database_url: str) -> None:
    chatbot = (await client.post("/api/chatbots/import", json=demo())).json()
    response = await client.post(f"/api/chatbots/{chatbot['id']}/test-run", json={
        "inputs": ["hi", {"buttonId": "order"}, {"listRowId": "margherita"}, "2"], "contactName": "Ana"})
    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert len(steps) == 4

    welcome, menu = steps[0]["messages"]
    assert welcome == {"type": "text", "content": {"body": "Hi Ana! Welcome to Pizza Place \U0001f355"}}
    assert menu["type"] == "interactive" and menu["content"]["kind"] == "buttons"
    assert [b["id"] for b in menu["content"]["buttons"]] == ["order", "hours", "human"]
    assert steps[0]["waitingFor"] is not None and steps[0]["currentNodeId"] == "menu"

    (pizza_list,) = steps[1]["messages"]
    assert pizza_list["content"]["kind"] == "list" and pizza_list["content"]["button"] == "See pizzas"
    assert steps[1]["variables"]["menu_choice"] == "Order a pizza"

    (question,) = steps[2]["messages"]
    assert question == {"type": "text", "content": {"body": "How many Margherita pizzas would you like? (1-10)"}}
    assert steps[2]["variables"]["pizza"] == "Margherita"
    assert steps[2]["input"]["listRowId"] == "margherita"

    (done,) = steps[3]["messages"]
    assert done["content"]["body"] == (
        "Thanks Ana! Your order of 2 x Margherita is confirmed and will be ready in 30 minutes.")
    final = steps[3]
    assert final["ended"] is True and final["endedReason"] == "completed" and final["handoff"] is False
    assert final["variables"]["quantity"] == 2
    assert final["variables"]["order.summary"] == "2 x Margherita"
    assert final["variables"]["order.status"] == "confirmed"
    assert all(not step["ended"] for step in steps[:3])

    # Test runs leave no trace: no conversation, no context, no message, no job.
    for table in ("conversations", "conversation_contexts", "messages", "procrastinate_jobs", "users"):
        assert count(database_url, f"SELECT count(*) FROM {table}") == 0, table


async def test_test_run_of_the_published_graph_and_of_an_invalid_draft(client: httpx.AsyncClient) -> None:
    draft = await create(client, **valid_graph())
    unpublished = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi"], "published": True})
    assert unpublished.status_code == 422 and unpublished.json()["error"]["code"] == "not_published"
    await client.post(f"/api/chatbots/{draft['id']}/publish")
    await client.patch(f"/api/chatbots/{draft['id']}", json=broken_graph())
    invalid = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi"]})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_flow"
    assert invalid.json()["error"]["details"]
    published = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi"], "published": True})
    assert published.status_code == 200, published.text
    for unknown in ({"foo": 1}, {}, {"buttonId": "b", "colour": "red"}):
        refused = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi", unknown]})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error", refused.text
    for ill_typed in (1, None, ["hi"]):
        refused = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi", ill_typed]})
        assert refused.status_code == 422
        # Named as the body names it, not after pydantic's union members (`inputs.1.dict[str,any]`).
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["inputs.1"], refused.text
    assert [m["content"]["body"] for m in published.json()["steps"][0]["messages"]] == ["Hello!", "Bye"]


async def test_list_shows_running_conversations_and_delete_cascades(
    client: httpx.AsyncClient, database_url: str
) -> None:
    bot = await create(client, name="Runner", status="active", **valid_graph())
    other = await create(client, name="Idle", **valid_graph())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conversations = [
            conn.execute("INSERT INTO conversations DEFAULT VALUES RETURNING id").fetchone()[0]  # type: ignore[index]
            for _ in range(3)
        ]
        for index, conversation in enumerate(conversations):
            conn.execute(
                'INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId", "isActive")'
                " VALUES (%s, %s, 'hello', %s)",
                (conversation, bot["id"], index < 2),
            )
    listed = await client.get("/api/chatbots")
    assert listed.status_code == 200
    rows = {item["name"]: item for item in listed.json()["items"]}
    assert rows["Runner"]["runningConversations"] == 2
    assert rows["Idle"]["runningConversations"] == 0
    assert rows["Runner"]["nodeCount"] == 3 and rows["Runner"]["status"] == "active"
    assert listed.json()["nextCursor"] is None

    page = await client.get("/api/chatbots", params={"limit": 1})
    assert [i["name"] for i in page.json()["items"]] == ["Runner"]
    rest = await client.get("/api/chatbots", params={"limit": 1, "cursor": page.json()["nextCursor"]})
    assert [i["name"] for i in rest.json()["items"]] == ["Idle"]

    assert (await client.delete(f"/api/chatbots/{bot['id']}")).status_code == 204
    assert count(database_url, "SELECT count(*) FROM conversation_contexts") == 0
    assert count(database_url, "SELECT count(*) FROM conversations") == 3
    assert (await client.get(f"/api/chatbots/{bot['id']}")).status_code == 404
    assert (await client.delete(f"/api/chatbots/{bot['id']}")).status_code == 404
    assert [i["id"] for i in (await client.get("/api/chatbots")).json()["items"]] == [other["id"]]


async def test_bad_input(client: httpx.AsyncClient, database_url: str) -> None:
    missing = uuid.uuid4()
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/publish"), ("GET", "/export"),
                         ("GET", "/stats"), ("GET", "/validate"), ("POST", "/test-run")):
        body = {"inputs": ["hi"]} if path == "/test-run" else {} if method == "PATCH" else None
        response = await client.request(method, f"/api/chatbots/{missing}{path}", json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found", (method, path)
    assert (await client.get("/api/chatbots/not-a-uuid")).status_code in (404, 422)

    malformed = await client.post("/api/chatbots", content=b'{"name": "x", "nodes": [',
                                  headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"

    not_a_list = await client.post("/api/chatbots", json={"name": "x", "nodes": {"id": "start"}})
    assert not_a_list.status_code == 422
    assert not_a_list.json()["error"]["details"]

    too_many = [node(f"n{i}", "message", text="x") for i in range(2001)]
    huge = await client.post("/api/chatbots", json={"name": "x", "nodes": too_many})
    assert huge.status_code == 422, huge.text
    assert (await client.patch(f"/api/chatbots/{missing}", json={"nodes": too_many})).status_code == 422
    too_many_edges = [edge(f"e{i}", "a", "b") for i in range(2001)]
    assert (await client.post("/api/chatbots", json={"name": "x", "edges": too_many_edges})).status_code == 422
    assert (await client.post("/api/chatbots/import", json={"name": "x", "nodes": too_many})).status_code == 422
    bad_cursor = await client.get("/api/chatbots", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400, bad_cursor.text

    assert (await client.post("/api/chatbots", json={"nodes": []})).status_code == 422  # no name
    assert (await client.post("/api/chatbots", json={"name": "x", "status": "bogus"})).status_code == 422
    assert (await client.get("/api/chatbots", headers={"Authorization": "Bearer wab_wrong"})).status_code == 401
    assert count(database_url, "SELECT count(*) FROM chatbots") == 0


@pytest.mark.parametrize(
    "metadata",
    [
        {"sessionTimeoutMinutes": 1e300},
        {"sessionTimeoutMinutes": 10**400},  # an int float() cannot hold: was a 500
        {"sessionTimeoutMinutes": -5},
        {"sessionTimeoutMinutes": "30"},
        {"restartKeywords": "restart"},
        {"restartKeywords": ["ok", 3]},
        {"restartKeywords": ["x" * 101]},
        {"restartKeywords": ["ok", "  "]},
        {"handoffKeywords": "agent"},
        {"handoffKeywords": ["agent", ""]},
        {"handoffKeywords": ["agent"] * 21},
        {"handoffKeywords": ["Menu!"], "restartKeywords": ["menu"]},  # which would it do?
        {"handoffKeywords": ["restart"]},  # one of the default restart keywords
        {"handoffKeywords": ["restart"], "restartKeywords": None},  # null: the default ones
        {"handoffNodeId": 7},
        {"handoffNodeId": ""},
        {"sessionTimeoutMessage": "   "},
        {"sessionTimeoutMessage": "x" * 1025},
        {"sessionTimeoutMessage": ["Welcome back"]},
    ],
)
async def test_settings_the_engine_cannot_use_are_refused(client: httpx.AsyncClient, metadata: dict[str, Any]) -> None:
    bot = await create(client, **valid_graph())
    for method, path, body in (
        ("PATCH", f"/api/chatbots/{bot['id']}", {"metadata": metadata}),
        ("POST", "/api/chatbots", {"name": "Other", "metadata": metadata}),
        ("POST", "/api/chatbots/import", {"name": "Imported", "metadata": metadata}),
    ):
        response = await client.request(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    assert (await client.get(f"/api/chatbots/{bot['id']}")).json()["metadata"] == bot["metadata"]
    fine = {
        "sessionTimeoutMinutes": 90,
        "restartKeywords": ["menu"],
        "handoffKeywords": ["agent", "restart"],  # its own restart keywords are not the default ones
        "handoffNodeId": "human",
        "editor": {"zoom": 2},
    }
    response = await client.patch(f"/api/chatbots/{bot['id']}", json={"metadata": fine})
    assert response.status_code == 200 and response.json()["metadata"] == fine
    # No restart keywords at all: "restart" is free to hand off.
    none = {"restartKeywords": [], "handoffKeywords": ["restart"]}
    response = await client.patch(f"/api/chatbots/{bot['id']}", json={"metadata": none})
    assert response.status_code == 200, response.text


async def test_test_run_refuses_ill_typed_input_values(client: httpx.AsyncClient) -> None:
    draft = await create(client, **valid_graph())
    for bad in ({"buttonId": {"x": 1}}, {"listRowId": ["a"]}, {"buttonId": 5}, {"buttonId": None},
                {"buttonId": "b", "title": 3}, {"text": ["hi"]}, {"body": 1}, {"timer": "yes"},
                {"type": "text", "content": "hi"}, {"type": 1}, {"type": "bogus"}, {"kind": "dance"},
                {"buttonId": "order", "listRowId": "x"}, {"buttonId": "b", "timer": True},
                # inside a message's content too (the body 5 was read as the text "5", ["x"] as no text)
                {"type": "text", "content": {"body": 5}}, {"type": "text", "content": {"body": ["x"]}},
                {"type": "interactive", "content": {"buttonId": {"a": 1}}}, {"type": "button", "content": {"buttonId": True}},
                {"type": "image", "content": {"caption": {"a": 1}}}):
        refused = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi", bad]})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"]["code"] == "validation_error", refused.text
    for good in ({"buttonId": "b", "title": "B"}, {"listRowId": "r"}, {"text": "x"}, {"timer": True},
                 {"type": "text", "content": {"body": "x"}}, {"kind": "timer"}, {"type": "location",
                 "content": {"latitude": 1, "longitude": 2}}):
        accepted = await client.post(f"/api/chatbots/{draft['id']}/test-run", json={"inputs": ["hi", good]})
        assert accepted.status_code == 200, (good, accepted.text)


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": ["hi", "\\ud800"]}',
        b'{"inputs": [{"buttonId": "\\udfff"}]}',
        b'{"inputs": ["hi"], "contactName": "Ana \\ud83d"}',
    ],
)
async def test_test_run_with_half_a_surrogate_pair_is_422_not_500(client: httpx.AsyncClient, body: bytes) -> None:
    chatbot = (await client.post("/api/chatbots/import", json=demo())).json()
    response = await client.post(
        f"/api/chatbots/{chatbot['id']}/test-run", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    again = await client.post(f"/api/chatbots/{chatbot['id']}/test-run", json={"inputs": ["hi"]})
    assert again.status_code == 200


async def test_a_chatbot_name_is_trimmed_and_never_only_spaces(client: httpx.AsyncClient) -> None:
    for body in ({"name": "   "}, {"name": "\t\n"}):
        refused = await client.post("/api/chatbots", json=body)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
    made = (await client.post("/api/chatbots", json={"name": "  Support  "})).json()
    assert made["name"] == "Support"
    assert (await client.patch(f"/api/chatbots/{made['id']}", json={"name": "  "})).status_code == 422
    assert (await client.post("/api/chatbots/import", json={**demo(), "name": " "})).status_code == 422


async def test_a_keyword_an_older_active_chatbot_answers_is_a_warning(client: httpx.AsyncClient) -> None:
    older = await create(client, name="Older", **valid_graph())
    assert (await client.post(f"/api/chatbots/{older['id']}/publish")).status_code == 200
    newer = await create(client, name="Newer", **valid_graph())  # its start keyword is "hi" too
    taken = [w for w in newer["validation"]["warnings"] if w["code"] == "keyword_taken"]
    assert len(taken) == 1 and "'hi'" in taken[0]["message"] and "'Older'" in taken[0]["message"]
    assert taken[0]["nodeId"] == "start"
    checked = (await client.get(f"/api/chatbots/{newer['id']}/validate")).json()
    assert [w["code"] for w in checked["warnings"]].count("keyword_taken") == 1
    # The older one is not warned (it answers), nor is a newer one once the older is switched off.
    assert "keyword_taken" not in [w["code"] for w in (await client.get(f"/api/chatbots/{older['id']}/validate")).json()["warnings"]]
    assert (await client.patch(f"/api/chatbots/{older['id']}", json={"isActive": False})).status_code == 200
    again = (await client.get(f"/api/chatbots/{newer['id']}/validate")).json()
    assert "keyword_taken" not in [w["code"] for w in again["warnings"]]
    graph = valid_graph()
    graph["nodes"][0]["data"]["triggerKeywords"] = ["pizza"]
    other = await client.patch(f"/api/chatbots/{newer['id']}", json=graph)
    assert "keyword_taken" not in [w["code"] for w in other.json()["validation"]["warnings"]]


async def test_text_postgresql_cannot_store_in_a_graph_is_a_422_naming_where(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """U+0000, half a surrogate pair and infinities (`1e400`): refused with the place named (the database used to
    refuse them with no field named), by validate too, and nothing is stored. NaN, not JSON, is malformed JSON."""
    start = {"id": "s", "type": "start", "position": {"x": 0, "y": 0}, "data": {}}
    bad_texts = [
        b'{"id": "m", "type": "message", "position": {"x": 0, "y": 0}, "data": {"text": "a\\u0000b"}}',
        b'{"id": "m", "type": "message", "position": {"x": 0, "y": 0}, "data": {"text": "a\\ud800b"}}',
        b'{"id": "m", "type": "message", "position": {"x": 1e400, "y": 0}, "data": {"text": "a"}}',
    ]
    for bad in bad_texts:
        body = b'{"name": "Bot", "nodes": [' + json.dumps(start).encode() + b", " + bad + b"]}"
        for url in ("/api/chatbots", "/api/flows/validate"):
            refused = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            assert refused.status_code == 422, (url, bad, refused.text)
            [detail] = refused.json()["error"]["details"]
            assert detail["field"] == "nodes" and "1." in detail["message"], detail
    not_json = b'{"name": "Bot", "nodes": [{"id": "m", "type": "message", "position": {"x": NaN, "y": 0}}]}'
    for url in ("/api/chatbots", "/api/flows/validate"):
        refused = await client.post(url, content=not_json, headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "malformed_json", refused.text
        assert "(NaN is not a JSON value) at character 75" in refused.json()["error"]["details"][0]["message"]
    named = await client.post("/api/chatbots", content=b'{"name": "B\\u0000t"}', headers={"Content-Type": "application/json"})
    assert named.status_code == 422 and named.json()["error"]["details"][0]["field"] == "name"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM chatbots WHERE name = 'Bot'").fetchone() == (0,)


async def test_a_save_or_publish_from_a_stale_copy_is_refused_with_if_match(client: httpx.AsyncClient) -> None:
    """Two tabs (or two people) on one chatbot: the second save silently replaced the first, and a publish from
    the first tab put live what the other had saved while its screen showed its own."""
    graph = valid_graph()
    saved = await create(client, **graph)
    loaded = await client.get(f"/api/chatbots/{saved['id']}")
    tab_a = tab_b = loaded.headers["ETag"]
    assert tab_a.strip('"') == loaded.json()["updatedAt"]
    edited = [*graph["nodes"][:1], node("hello", "message", text="Tab A"), graph["nodes"][2]]
    first = await client.patch(f"/api/chatbots/{saved['id']}", json={"nodes": edited}, headers={"If-Match": tab_a})
    assert first.status_code == 200, first.text
    tab_a = first.headers["ETag"]
    assert tab_a != tab_b and tab_a.strip('"') == first.json()["updatedAt"]
    stale = [*graph["nodes"][:1], node("hello", "message", text="Tab B"), graph["nodes"][2]]
    second = await client.patch(f"/api/chatbots/{saved['id']}", json={"nodes": stale}, headers={"If-Match": tab_b})
    assert second.status_code == 412 and second.json()["error"]["code"] == "edit_conflict", second.text
    assert second.json()["error"]["details"][0]["currentETag"] == tab_a
    assert (await client.post(f"/api/chatbots/{saved['id']}/publish", headers={"If-Match": tab_b})).status_code == 412
    stored = (await client.get(f"/api/chatbots/{saved['id']}")).json()
    assert stored["nodes"] == edited and stored["publishedNodes"] is None  # nothing of tab B's, nothing published
    # The up-to-date copy publishes; the bare updatedAt works as well as the ETag; no If-Match replaces anything.
    published = await client.post(f"/api/chatbots/{saved['id']}/publish", headers={"If-Match": stored["updatedAt"]})
    assert published.status_code == 200 and published.json()["publishedNodes"] == edited
    for header in ({"If-Match": "*"}, {}):
        assert (await client.patch(f"/api/chatbots/{saved['id']}", json={"nodes": stale}, headers=header)).status_code == 200
    assert (await client.patch(f"/api/chatbots/{saved['id']}", json={}, headers={"If-Match": '"junk"'})).status_code == 412


async def test_a_malformed_if_match_is_a_400_naming_the_header_not_an_edit_conflict(client: httpx.AsyncClient) -> None:
    """`If-Match: abc` (or an unterminated quote, or bytes that are no text) was answered 412 "changed since you
    loaded it": the client went looking for someone else's edit when its own header was broken (RFC 9110 13.1.1:
    `*` or a list of entity tags)."""
    saved = await create(client, **valid_graph())
    url = f"/api/chatbots/{saved['id']}"
    loaded = await client.get(url)
    current, updated_at = loaded.headers["ETag"], loaded.json()["updatedAt"]
    malformed: list[str | bytes] = [
        "abc",
        '"unterminated',
        'unopened"',
        "",
        " , ",
        "*, " + current,
        f"{current} junk",
        "W/abc",
        "2025-01-31",  # a date is no version (no time zone)
        b"\xff\xfe\x01garbage",
        b'"a\x01b"',  # a control character inside the quotes
    ]
    for value in malformed:
        for answer in (
            await client.patch(url, json={"name": "Changed"}, headers={"If-Match": value}),
            await client.post(f"{url}/publish", headers={"If-Match": value}),
        ):
            assert answer.status_code == 400, (value, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid_if_match" and "If-Match" in error["message"], error
            assert error["details"][0]["field"] == "If-Match"
    assert (await client.get(url)).json()["name"] == saved["name"]  # nothing changed
    # Well-formed ones keep their meaning: a tag that is not the current version is 412, the current one (as a
    # tag, weak, bare, in a list, with spaces around) and * are taken.
    for stale in ('"abc"', '"2020-01-01T00:00:00Z"', 'W/"x", "y"', b'"\xff"', '"a,b"'):
        refused = await client.patch(url, json={}, headers={"If-Match": stale})
        assert refused.status_code == 412 and refused.json()["error"]["code"] == "edit_conflict", (stale, refused.text)
    for good in (current, f"W/{current}", updated_at, f'"other", {current}', f" {current} , ", "*", " * "):
        taken = await client.patch(url, json={}, headers={"If-Match": good})
        assert taken.status_code == 200, (good, taken.text)
        current, updated_at = taken.headers["ETag"], taken.json()["updatedAt"]


async def _blocked_behind_a_lock(database_url: str) -> None:
    """Until a statement of the app waits for a row lock (polled, with a deadline)."""
    import asyncio
    import time

    deadline = time.monotonic() + 10
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = await (await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE chatbots%'")).fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the PATCH never waited for the row lock")


@pytest.mark.parametrize("change", ["patch", "publish"])
async def test_changing_a_chatbot_another_request_deletes_meanwhile_is_a_404(
    client: httpx.AsyncClient, database_url: str, change: str
) -> None:
    # Read, then deleted by another request before the update: was a 500 (StaleDataError).
    import asyncio

    bot = await create(client, **valid_graph())
    async with await psycopg.AsyncConnection.connect(database_url) as deleter:
        await deleter.execute("DELETE FROM chatbots WHERE id = %s", (bot["id"],))  # holds the row's lock
        url = f"/api/chatbots/{bot['id']}"
        request = (client.patch(url, json={"name": "Renamed"}) if change == "patch"
                   else client.post(f"{url}/publish"))
        answer = asyncio.ensure_future(request)
        await _blocked_behind_a_lock(database_url)
        await deleter.commit()
        response = await answer
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("name", "ascii_name", "written"), [
    ("Pizza Bot", "Pizza-Bot", None),
    ("Ωmega", "mega", "%CE%A9mega.json"),
    ("中文机器人", "chatbot", "%E4%B8%AD%E6%96%87%E6%9C%BA%E5%99%A8%E4%BA%BA.json"),
    ("Pizza é", "Pizza-e", "Pizza-%C3%A9.json"),
    ("Café", "Cafe", "Caf%C3%A9.json"),
    ("नमस्ते बॉट", "chatbot", "%E0%A4%A8%E0%A4%AE%E0%A4%B8%E0%A5%8D%E0%A4%A4%E0%A5%87-%E0%A4%AC%E0%A5%89%E0%A4%9F.json"),
])
async def test_a_chatbot_named_in_any_script_is_exported_under_its_name(
    client: httpx.AsyncClient, name: str, ascii_name: str, written: str | None
) -> None:
    # A Greek or Chinese name could not be put in the header: the export was a 422.
    bot = await create(client, name=name, **valid_graph())
    exported = await client.get(f"/api/chatbots/{bot['id']}/export")
    assert exported.status_code == 200 and exported.json()["name"] == name
    disposition = exported.headers["content-disposition"]
    assert disposition.isascii()
    assert disposition.startswith(f'attachment; filename="{ascii_name}.json"')
    assert (f"filename*=UTF-8''{written}" in disposition) if written else ("filename*" not in disposition)
