"""The compiled, indexed form of a chatbot graph used by the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from whatsapp_builder.flows.handles import normalize_handle
from whatsapp_builder.flows.validation import RUNNABLE_ERROR_CODES, ValidationReport, validate_graph
from whatsapp_builder.flows.words import keyword_key, message_keys


class FlowGraphError(ValueError):
    """The graph cannot be run; ``report`` lists every problem."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        first = report.errors[0].message if report.errors else "invalid graph"
        super().__init__(f"invalid chatbot graph ({len(report.errors)} error(s)): {first}")


@dataclass(frozen=True)
class FlowNode:
    id: str
    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class FlowEdge:
    id: str | None
    source: str
    target: str
    source_handle: str | None


@dataclass(frozen=True)
class FlowGraph:
    nodes: Mapping[str, FlowNode]
    edges: Mapping[tuple[str, str | None], FlowEdge]
    start_node_id: str

    def next_node_id(self, node_id: str, handle: str | None) -> str | None:
        edge = self.edges.get((node_id, handle))
        return edge.target if edge is not None else None

    def trigger_keywords(self) -> list[str]:
        raw = self.nodes[self.start_node_id].data.get("triggerKeywords")
        if not isinstance(raw, list):
            return []
        words = (keyword_key(k) for k in raw if isinstance(k, str))
        return [w for w in words if w]


def compile_graph(nodes: object, edges: object) -> FlowGraph:
    """Index a graph for the engine. Raises :class:`FlowGraphError` (only) when it fails validation."""
    report = validate_graph(nodes, edges)
    if any(problem.code not in RUNNABLE_ERROR_CODES for problem in report.errors):
        raise FlowGraphError(report)
    node_map: dict[str, FlowNode] = {}
    start = ""
    for raw in cast(list[dict[str, Any]], nodes):
        data = raw.get("data")
        node = FlowNode(id=raw["id"], type=raw["type"], data=dict(data) if isinstance(data, dict) else {})
        node_map[node.id] = node
        if node.type == "start":
            start = node.id
    edge_map: dict[tuple[str, str | None], FlowEdge] = {}
    for raw in cast(list[dict[str, Any]], edges):
        ident = raw.get("id")
        edge = FlowEdge(
            id=ident if isinstance(ident, str) else None,
            source=raw["source"],
            target=raw["target"],
            source_handle=normalize_handle(raw.get("sourceHandle")),
        )
        edge_map[(edge.source, edge.source_handle)] = edge
    return FlowGraph(nodes=node_map, edges=edge_map, start_node_id=start)


def start_matches(graph: FlowGraph, text: str | None) -> bool:
    """Whether ``text`` triggers this chatbot: equals a keyword, or starts with one and a space."""
    if not isinstance(text, str):
        return False
    keywords = graph.trigger_keywords()
    return any(m == k or m.startswith(k + " ") for m in message_keys(text) for k in keywords)


def has_trigger_keywords(graph: FlowGraph) -> bool:
    return bool(graph.trigger_keywords())
