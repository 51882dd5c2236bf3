"""Test runs: drive a chatbot with scripted inputs, without a database, and return a transcript."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from whatsapp_builder.flows.engine import run_turn
from whatsapp_builder.flows.graph import compile_graph
from whatsapp_builder.flows.http import HttpPerformer
from whatsapp_builder.flows.types import ContactInfo, ContextState, EngineSettings, FlowInput

MAX_DELAYS_PER_STEP = 20


@dataclass
class TranscriptStep:
    input: FlowInput
    messages: list[dict[str, Any]]
    variables: dict[str, Any]
    current_node_id: str | None
    ended: bool
    ended_reason: str | None
    waiting_for: str | None
    delays: list[int] = field(default_factory=list)
    """Seconds of every delay fast-forwarded during this step."""
    log: list[str] = field(default_factory=list)
    handoff: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": {
                "kind": self.input.kind,
                "text": self.input.text,
                "buttonId": self.input.button_id,
                "listRowId": self.input.list_row_id,
            },
            "messages": self.messages,
            "variables": self.variables,
            "currentNodeId": self.current_node_id,
            "ended": self.ended,
            "endedReason": self.ended_reason,
            "waitingFor": self.waiting_for,
            "delays": self.delays,
            "handoff": self.handoff,
            "log": self.log,
        }


async def test_run(
    nodes: object,
    edges: object,
    inputs: list[FlowInput | str | dict[str, Any]],
    *,
    contact: ContactInfo | None = None,
    settings: EngineSettings | None = None,
    http: HttpPerformer,
    now: datetime | None = None,
) -> list[TranscriptStep]:
    """Start a fresh context and feed each input in turn; delays are fast-forwarded.

    The first input is the trigger the start node consumes. Raises ``FlowGraphError`` for an invalid graph.
    """
    graph = compile_graph(nodes, edges)
    who = contact or ContactInfo(name="Test user", phone="+15550000000")
    config = settings or EngineSettings()
    clock = now or datetime.now(UTC)
    state: ContextState | None = None
    steps: list[TranscriptStep] = []
    for raw in inputs:
        flow_input = FlowInput.from_test_input(raw)
        result = await run_turn(graph, state, flow_input, contact=who, now=clock, settings=config, http=http)
        messages = [m.to_dict() for m in result.outgoing]
        log = list(result.log)
        delays: list[int] = []
        handoff = result.handoff
        state = result.state
        while result.wake_at is not None and state.is_active and len(delays) < MAX_DELAYS_PER_STEP:
            delays.append(int((result.wake_at - clock).total_seconds()))
            clock = result.wake_at
            result = await run_turn(graph, state, FlowInput.timer(), contact=who, now=clock, settings=config, http=http)
            messages.extend(m.to_dict() for m in result.outgoing)
            log.extend(result.log)
            handoff = handoff or result.handoff
            state = result.state
        steps.append(
            TranscriptStep(
                input=flow_input,
                messages=messages,
                variables=dict(state.variables),
                current_node_id=state.current_node_id,
                ended=not state.is_active,
                ended_reason=state.ended_reason if not state.is_active else None,
                waiting_for=state.waiting_for,
                delays=delays,
                log=log,
                handoff=handoff,
            )
        )
    return steps


test_run.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
