"""Shared helpers for the flow tests (kept out of conftest.py on purpose)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from whatsapp_builder.flows import (
    ContactInfo,
    ContextState,
    EngineSettings,
    FlowGraph,
    FlowInput,
    HttpRequestSpec,
    HttpResult,
    TurnResult,
    compile_graph,
    run_turn,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONTACT = ContactInfo(name="Ana", phone="+15551234567")


@dataclass
class FakeHttp:
    """An HttpPerformer that records requests and answers with a fixed result."""

    result: HttpResult = field(default_factory=lambda: HttpResult(ok=True, status=200, json={}, text="{}"))
    requests: list[HttpRequestSpec] = field(default_factory=list)

    async def perform(self, request: HttpRequestSpec) -> HttpResult:
        self.requests.append(request)
        return self.result


def node(node_id: str, node_type: str, x: int = 0, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": x, "y": 0}, "data": data}


def edge(source: str, target: str, handle: str | None = None, edge_id: str | None = None) -> dict[str, Any]:
    return {
        "id": edge_id or f"{source}-{handle or 'default'}-{target}",
        "source": source,
        "target": target,
        "sourceHandle": handle,
    }


def chain(*nodes: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Nodes connected in order by default-handle edges, preceded by a start node."""
    all_nodes = [node("start", "start", triggerKeywords=["hi"]), *nodes]
    edges = [edge(a["id"], b["id"]) for a, b in itertools.pairwise(all_nodes)]
    return all_nodes, edges


def graph_of(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> FlowGraph:
    return compile_graph(nodes, edges)


def text(value: str) -> FlowInput:
    return FlowInput(kind="text", text=value)


def bodies(result: TurnResult) -> list[str]:
    return [m.content.get("body", "") for m in result.outgoing]


class Bot:
    """Drives one conversation through a graph, keeping the state between turns."""

    def __init__(
        self,
        graph: FlowGraph,
        *,
        settings: EngineSettings | None = None,
        http: FakeHttp | None = None,
        contact: ContactInfo = CONTACT,
    ) -> None:
        self.graph = graph
        self.settings = settings or EngineSettings()
        self.http = http or FakeHttp()
        self.contact = contact
        self.state: ContextState | None = None
        self.now = NOW

    async def send(self, value: FlowInput | str, *, now: datetime | None = None) -> TurnResult:
        flow_input = FlowInput.from_test_input(value)
        if now is not None:
            self.now = now
        result = await run_turn(
            self.graph,
            self.state,
            flow_input,
            contact=self.contact,
            now=self.now,
            settings=self.settings,
            http=self.http,
        )
        self.state = result.state
        return result
