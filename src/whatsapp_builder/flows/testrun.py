"""Test runs: drive a chatbot with scripted inputs, without a database, and return a transcript."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from whatsapp_builder.flows.engine import run_turn
from whatsapp_builder.flows.graph import compile_graph
from whatsapp_builder.flows.http import HttpPerformer, HttpRequestSpec, HttpResult
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


def _request_dict(request: HttpRequestSpec) -> dict[str, Any]:
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
    return {
        "method": request.method,
        "url": request.url,
        "headers": dict(sorted(request.headers.items())),
        "body": body,
        "json": request.json,
    }


class ReplayingHttpPerformer:
    """Answers a request identical to one made in an earlier test run of the same chat from that run's record,
    instead of calling the API again; calls it for anything else. Every exchange is kept in `calls`.

    A chat in the test panel resends all its inputs each turn (the engine is a pure function of the inputs), so
    an HTTP request node ran again for every later message: a POST that creates something created it that many
    times. With the previous run's `calls` given back as `recorded`, each request goes out once."""

    def __init__(self, inner: HttpPerformer, recorded: list[dict[str, Any]]) -> None:
        self._inner = inner
        self._recorded = list(recorded)
        self.calls: list[dict[str, Any]] = []

    async def perform(self, request: HttpRequestSpec) -> HttpResult:
        asked = _request_dict(request)
        index = next((i for i, call in enumerate(self._recorded) if call.get("request") == asked), None)
        if index is not None:
            recorded = self._recorded.pop(index).get("result")
            replayed = _result_from(recorded) if isinstance(recorded, dict) else None
            if replayed is not None:
                self.calls.append({"request": asked, "result": recorded, "replayed": True})
                return replayed
        result = await self._inner.perform(request)
        self.calls.append({"request": asked, "result": _result_dict(result), "replayed": False})
        return result


def _result_dict(result: HttpResult) -> dict[str, Any]:
    return {"ok": result.ok, "status": result.status, "json": result.json, "text": result.text, "error": result.error}


def _result_from(data: dict[str, Any]) -> HttpResult | None:
    """A recorded result as the engine takes it; None when it is not one (the record came from the client)."""
    ok, status, text, error = data.get("ok"), data.get("status"), data.get("text"), data.get("error")
    if not isinstance(ok, bool) or not (status is None or (isinstance(status, int) and not isinstance(status, bool))):
        return None
    if not all(v is None or isinstance(v, str) for v in (text, error)):
        return None
    return HttpResult(ok=ok, status=status, json=data.get("json"), text=text, error=error)


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

    The first input is the trigger the start node consumes; so is the first one after the flow ended (a customer
    writing again after the end starts it anew). Raises ``FlowGraphError`` for an invalid graph.
    """
    graph = compile_graph(nodes, edges)
    who = contact or ContactInfo(name="Test user", phone="+15550000000")
    config = settings or EngineSettings()
    clock = now or datetime.now(UTC)
    state: ContextState | None = None
    steps: list[TranscriptStep] = []
    handed_over = False  # to a human: the bot stays silent from then on, as in a real conversation
    for raw in inputs:
        flow_input = FlowInput.from_test_input(raw)
        if state is not None and not state.is_active and not handed_over:
            state = None  # the flow ended: the next message starts it again, as for a customer (not after a hand-off)
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
        handed_over = handed_over or handoff
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
