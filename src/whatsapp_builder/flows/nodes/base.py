"""What node handlers work with: the turn context and the outcomes they return."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whatsapp_builder.flows.graph import FlowGraph, FlowNode
from whatsapp_builder.flows.http import HttpPerformer
from whatsapp_builder.flows.templating import Scope, render, truncate
from whatsapp_builder.flows.types import ContactInfo, ContextState, EngineSettings, FlowInput, OutgoingMessage

TEXT_LIMIT = 4096


@dataclass(frozen=True)
class Follow:
    """Continue along the edge leaving from ``handle`` (None = default handle)."""

    handle: str | None = None


@dataclass(frozen=True)
class GoTo:
    """Continue at ``node_id`` without an edge (jump)."""

    node_id: str


@dataclass(frozen=True)
class Wait:
    """Stop here until the next input of the given kind (``question``, ``buttons``, ``list``, ``delay``)."""

    kind: str
    wake_at: datetime | None = None


@dataclass(frozen=True)
class Finish:
    """End the context with ``reason``."""

    reason: str


Outcome = Follow | GoTo | Wait | Finish


@dataclass
class TurnContext:
    """Everything one turn may read or change. The engine owns ``state``; handlers mutate it in place."""

    graph: FlowGraph
    state: ContextState
    contact: ContactInfo
    now: datetime
    settings: EngineSettings
    http: HttpPerformer
    outgoing: list[OutgoingMessage] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    http_seconds: float = 0.0  # spent on this turn's http_request nodes (see nodes/http_request.py)

    @property
    def scope(self) -> Scope:
        return Scope(self.state.variables, self.contact)

    def render(self, template: object, limit: int | None = None) -> str:
        text = render(template, self.scope) if template is not None else ""
        return truncate(text, limit) if limit is not None else text

    def send(self, message: OutgoingMessage) -> None:
        self.outgoing.append(message)

    def send_text(self, template: object) -> None:
        """Send a templated text, if it is not empty after rendering."""
        body = self.render(template, TEXT_LIMIT)
        if body.strip():
            self.send(OutgoingMessage("text", {"body": body}))

    def set_variable(self, name: str, value: Any) -> None:
        self.state.variables[name] = value

    @property
    def bookkeeping(self) -> dict[str, Any]:
        return self.state.engine


EnterHandler = Callable[[TurnContext, FlowNode], Awaitable[Outcome]]
ResumeHandler = Callable[[TurnContext, FlowNode, FlowInput], Awaitable[Outcome]]


@dataclass(frozen=True)
class NodeHandler:
    """How a node type runs: ``enter`` when reached, ``resume`` with the next input when it waits."""

    enter: EnterHandler
    resume: ResumeHandler | None = None
