"""Property tests: random valid graphs and random inputs never break the engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsapp_builder.flows import (
    ContactInfo,
    ContextState,
    EngineSettings,
    FlowInput,
    HttpResult,
    compile_graph,
    run_turn,
    validate_graph,
)
from whatsapp_builder.flows.handles import source_handles

from .flowkit import NOW, FakeHttp

WORDS = ["hi", "Yes", "no", "1", "5", "42", "restart", "abc", "a@b.co", "2025-01-31", "{{x}}", "", "  "]
TEXT = st.one_of(st.sampled_from(WORDS), st.text(max_size=30))
TEMPLATE = st.sampled_from(["Hello {{contact.name}}", "{{v0}} and {{ v1 }}", "x" * 5000, "{{last_input}}", "Hi"])
VARIABLES = st.sampled_from(["v0", "v1", "order.qty", "last_input"])
OPTION_IDS = ["b0", "b1", "b2"]


@st.composite
def node_data(draw: st.DrawFn, node_type: str, ids: list[str]) -> dict[str, Any]:
    if node_type == "message":
        data: dict[str, Any] = {"text": draw(TEMPLATE)[:4096]}
        if draw(st.booleans()):
            data["media"] = {
                "type": draw(st.sampled_from(["image", "audio", "document"])),
                "url": "https://x/{{v0}}",
                "caption": "c {{v1}}",
            }
        return data
    if node_type == "question":
        validation = draw(
            st.sampled_from(
                [
                    {"type": "text", "minLength": 1, "maxLength": 10},
                    {"type": "number", "min": 1, "max": 10},
                    {"type": "email"},
                    {"type": "phone"},
                    {"type": "date"},
                    {"type": "options", "options": ["Yes", "No"]},
                    {"type": "regex", "pattern": "[a-z]+"},
                ]
            )
        )
        data = {"text": draw(TEMPLATE)[:4096], "variable": draw(VARIABLES), "validation": validation}
        if draw(st.booleans()):
            data["maxRetries"] = draw(st.integers(0, 3))
        return data
    if node_type == "buttons":
        count = draw(st.integers(1, 3))
        return {
            "text": "Pick {{v0}}",
            "buttons": [{"id": OPTION_IDS[i], "title": ["Yes", "No", "Maybe"][i]} for i in range(count)],
            "variable": draw(VARIABLES),
            "invalidPrompt": "again",
        }
    if node_type == "list":
        count = draw(st.integers(1, 3))
        return {
            "text": "Choose",
            "buttonLabel": "Open",
            "sections": [{"rows": [{"id": OPTION_IDS[i], "title": ["Yes", "No", "Tea"][i]} for i in range(count)]}],
        }
    if node_type == "condition":
        rules = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "variable": VARIABLES,
                        "operator": st.sampled_from(["equals", "contains", "greater_than", "is_set", "matches_regex"]),
                        "value": st.sampled_from(["yes", 3, "^a", "{{v1}}"]),
                    }
                ),
                min_size=1,
                max_size=3,
            )
        )
        return {"match": draw(st.sampled_from(["all", "any"])), "rules": rules}
    if node_type == "set_variable":
        return {"assignments": [{"variable": draw(VARIABLES), "value": draw(TEMPLATE)[:4096]}]}
    if node_type == "http_request":
        return {
            "method": "GET",
            "url": "https://api/{{v0}}",
            "statusVariable": "status",
            "responseMapping": [{"variable": "v1", "path": "a.0.b"}],
        }
    if node_type == "delay":
        return {"seconds": draw(st.integers(1, 604_800))}
    if node_type == "jump":
        return {"targetNodeId": draw(st.sampled_from(ids))}
    return {"text": draw(TEMPLATE)[:4096]} if draw(st.booleans()) else {}


NODE_TYPES = [
    "message",
    "question",
    "buttons",
    "list",
    "condition",
    "set_variable",
    "http_request",
    "delay",
    "jump",
    "handoff",
    "end",
]


@st.composite
def valid_graphs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    types = draw(st.lists(st.sampled_from(NODE_TYPES), min_size=1, max_size=8))
    ids = ["start"] + [f"n{i}" for i in range(len(types))]
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {"triggerKeywords": ["hi"]}}
    ]
    for index, node_type in enumerate(types):
        nodes.append(
            {
                "id": ids[index + 1],
                "type": node_type,
                "position": {"x": index, "y": 0},
                "data": draw(node_data(node_type, ids)),
            }
        )
    edges: list[dict[str, Any]] = []
    for item in nodes:
        for handle in source_handles(item["type"], item["data"]):
            if draw(st.integers(0, 4)) > 0:
                target = draw(st.sampled_from(ids))
                edges.append({"id": f"e{len(edges)}", "source": item["id"], "target": target, "sourceHandle": handle})
    return nodes, edges


flow_inputs = st.one_of(
    TEXT.map(lambda t: FlowInput(kind="text", text=t)),
    st.builds(
        FlowInput,
        kind=st.just("button"),
        text=st.sampled_from(["Yes", "No", None]),
        button_id=st.sampled_from([*OPTION_IDS, "zz"]),
    ),
    st.builds(
        FlowInput,
        kind=st.just("list"),
        text=st.sampled_from(["Tea", None]),
        list_row_id=st.sampled_from([*OPTION_IDS, "zz"]),
    ),
    st.just(FlowInput(kind="timer")),
    st.builds(FlowInput, kind=st.just("media"), text=st.sampled_from(["caption", None])),
    st.just(FlowInput(kind="other")),
)
http_results = st.sampled_from(
    [
        HttpResult(ok=True, status=200, json={"a": [{"b": "deep"}]}),
        HttpResult(ok=True, status=204, json=None),
        HttpResult(ok=False, status=500, error="HTTP 500"),
        HttpResult(ok=False, error="timeout"),
    ]
)


def check_message(message: Any) -> None:
    content = message.content
    if message.type == "text":
        assert 0 < len(content["body"]) <= 4096
    elif message.type == "interactive":
        if content["kind"] == "buttons":
            assert len(content["body"]) <= 1024 and 1 <= len(content["buttons"]) <= 3
            assert all(len(b["title"]) <= 20 for b in content["buttons"])
        else:
            assert len(content["body"]) <= 4096 and len(content["button"]) <= 20
    else:
        assert content["url"] and len(content.get("caption", "")) <= 1024


def check_state(state: ContextState, node_ids: set[str]) -> None:
    if state.is_active:
        assert state.current_node_id in node_ids
        assert state.waiting_for in {"question", "buttons", "list", "delay"}
        assert state.ended_reason is None
    else:
        assert state.ended_reason is not None and state.waiting_for is None
    assert set(state.node_history) <= node_ids


@settings(database=None, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_graphs(),
    st.lists(st.tuples(flow_inputs, st.integers(0, 4000)), min_size=1, max_size=12),
    st.integers(1, 60),
    st.sampled_from([None, timedelta(minutes=30)]),
    http_results,
)
async def test_engine_never_breaks_on_valid_graphs(
    graph_json: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    inputs: list[tuple[FlowInput, int]],
    max_steps: int,
    session_timeout: timedelta | None,
    http_result: HttpResult,
) -> None:
    nodes, edges = graph_json
    assert validate_graph(nodes, edges).errors == []
    graph = compile_graph(nodes, edges)
    node_ids = set(graph.nodes)
    engine_settings = EngineSettings(
        session_timeout=session_timeout, max_steps=max_steps, max_messages_per_turn=10, history_limit=20
    )
    state: ContextState | None = None
    now = NOW
    for flow_input, seconds in inputs:
        now += timedelta(seconds=seconds)
        if state is not None and not state.is_active:
            state = None
        result = await run_turn(
            graph,
            state,
            flow_input,
            contact=ContactInfo(name="N", phone=None),
            now=now,
            settings=engine_settings,
            http=FakeHttp(http_result),
        )
        assert result.steps <= max_steps
        assert len(result.outgoing) <= 10
        assert result.ended_reason != "error", result.log
        assert len(result.state.node_history) <= 20
        for message in result.outgoing:
            check_message(message)
        check_state(result.state, node_ids)
        if result.wake_at is not None:
            assert result.state.waiting_for == "delay" and result.wake_at > now
        elif result.steps > 0:
            assert result.state.waiting_for != "delay"
        state = result.state
