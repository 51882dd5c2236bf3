"""Per-chatbot statistics aggregated from conversation contexts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OK_ENDINGS = frozenset({"completed", "handoff"})


@dataclass(frozen=True)
class ContextSnapshot:
    node_history: list[str]
    current_node_id: str | None
    is_active: bool
    ended_reason: str | None
    # An operator took it over at some time (a hand-back lets it run again, so it may be active or completed now).
    taken_over: bool = False


@dataclass
class NodeStats:
    visits: int = 0
    drop_offs: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"visits": self.visits, "dropOffs": self.drop_offs}


@dataclass
class FlowStats:
    started: int = 0
    completed: int = 0
    handed_off: int = 0
    active: int = 0
    nodes: dict[str, NodeStats] = field(default_factory=dict)

    def node(self, node_id: str) -> NodeStats:
        return self.nodes.setdefault(node_id, NodeStats())

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "completed": self.completed,
            "handedOff": self.handed_off,
            "active": self.active,
            "nodes": {k: v.to_dict() for k, v in self.nodes.items()},
        }


def aggregate(contexts: Iterable[ContextSnapshot]) -> FlowStats:
    """Count contexts and per-node visits and drop-offs.

    A drop-off is the last node of a context that ended other than completed/handoff (timeout, restart,
    step limit...), or of an inactive context with no recorded reason (it stopped while waiting there). Handed off
    counts every context a person took: by a handoff node, or by an operator's take-over, also one handed back
    since (which may be active or completed now, and counts there too), as the dashboard counts them.
    """
    stats = FlowStats()
    for context in contexts:
        stats.started += 1
        for node_id in context.node_history:
            stats.node(node_id).visits += 1
        if context.taken_over or (not context.is_active and context.ended_reason == "handoff"):
            stats.handed_off += 1
        if context.is_active:
            stats.active += 1
            continue
        if context.ended_reason == "completed":
            stats.completed += 1
        last = context.node_history[-1] if context.node_history else context.current_node_id
        if context.ended_reason not in OK_ENDINGS and last is not None:
            stats.node(last).drop_offs += 1
    return stats
