from __future__ import annotations

import pytest

from whatsapp_builder.flows import ContextSnapshot, FlowGraphError, FlowInput, aggregate, test_run

from .flowkit import CONTACT, NOW, FakeHttp, chain, edge, node


async def test_transcript_with_delay_fast_forwarded() -> None:
    nodes, edges = chain(
        node("b", "buttons", text="Pick", buttons=[{"id": "x", "title": "X"}], variable="pick"),
        node("d", "delay", seconds=300),
        node("q", "question", text="Age?", variable="age", validation={"type": "number"}),
        node("e", "end", text="{{pick}} {{age}}"),
    )
    edges[1]["sourceHandle"] = "x"
    steps = await test_run(nodes, edges, ["hi", {"buttonId": "x"}, "12"], contact=CONTACT, http=FakeHttp(), now=NOW)
    assert [s.waiting_for for s in steps] == ["buttons", "question", None]
    assert steps[0].messages[0]["content"]["kind"] == "buttons"
    assert steps[1].delays == [300]
    assert steps[1].messages == [{"type": "text", "content": {"body": "Age?"}}]
    assert steps[1].current_node_id == "q" and not steps[1].ended
    assert steps[2].ended and steps[2].ended_reason == "completed"
    assert steps[2].variables["age"] == 12
    assert steps[2].messages == [{"type": "text", "content": {"body": "X 12"}}]
    data = steps[2].to_dict()
    assert data["currentNodeId"] == "e" and data["endedReason"] == "completed" and data["waitingFor"] is None
    assert steps[0].to_dict()["input"] == {"kind": "text", "text": "hi", "buttonId": None, "listRowId": None}


async def test_transcript_after_end_and_handoff_flag() -> None:
    steps = await test_run(*chain(node("h", "handoff", text="human")), ["hi", "more"], http=FakeHttp())
    assert steps[0].handoff and steps[0].ended_reason == "handoff"
    assert steps[1].messages == [] and steps[1].ended
    assert steps[0].input == FlowInput(kind="text", text="hi")


async def test_invalid_graph_raises() -> None:
    with pytest.raises(FlowGraphError):
        await test_run([], [], ["hi"], http=FakeHttp())


async def test_delay_loop_is_bounded() -> None:
    nodes, edges = chain(node("d", "delay", seconds=1))
    edges.append(edge("d", "start"))
    steps = await test_run(nodes, edges, ["hi"], http=FakeHttp())
    assert len(steps[0].delays) == 20 and not steps[0].ended


def test_stats() -> None:
    contexts = [
        ContextSnapshot(["start", "a", "b"], "b", False, "completed"),
        ContextSnapshot(["start", "a", "h"], "h", False, "handoff"),
        ContextSnapshot(["start", "a"], "a", True, None),
        ContextSnapshot(["start", "a"], "a", False, "timeout"),
        ContextSnapshot(["start", "a", "q"], "q", False, None),
        ContextSnapshot([], None, False, "node_missing"),
    ]
    stats = aggregate(contexts)
    assert (stats.started, stats.completed, stats.handed_off, stats.active) == (6, 1, 1, 1)
    data = stats.to_dict()
    assert data["handedOff"] == 1
    assert data["nodes"]["start"] == {"visits": 5, "dropOffs": 0}
    assert data["nodes"]["a"] == {"visits": 5, "dropOffs": 1}
    assert data["nodes"]["q"] == {"visits": 1, "dropOffs": 1}
    assert data["nodes"]["b"] == {"visits": 1, "dropOffs": 0}
    assert aggregate([]).to_dict() == {"started": 0, "completed": 0, "handedOff": 0, "active": 0, "nodes": {}}


def test_stats_count_a_take_over_handed_back_as_handed_off_and_as_what_it_is_now() -> None:
    stats = aggregate([
        ContextSnapshot(["start", "a"], "a", True, None, taken_over=True),  # handed back, running again
        ContextSnapshot(["start", "a", "b"], "b", False, "completed", taken_over=True),  # then finished
        ContextSnapshot(["start", "a"], "a", False, "handoff", taken_over=True),  # taken over now: once
    ])
    assert (stats.started, stats.handed_off, stats.active, stats.completed) == (3, 3, 1, 1)


async def test_a_message_after_the_end_starts_the_flow_again_as_for_a_customer() -> None:
    """The test panel answered nothing once its flow had ended, where a customer writing again starts it anew;
    and a tapped button's title is what {{last_input}} holds, as WhatsApp sends it."""
    nodes, edges = chain(
        node("b", "buttons", text="Pick", buttons=[{"id": "x", "title": "Pizza"}], variable="pick"),
        node("e", "end", text="You said {{last_input}}"),
    )
    edges[1]["sourceHandle"] = "x"
    steps = await test_run(nodes, edges, ["hi", {"buttonId": "x", "title": "Pizza"}, "hi again"], http=FakeHttp())
    assert steps[1].ended and steps[1].messages == [{"type": "text", "content": {"body": "You said Pizza"}}]
    assert steps[2].waiting_for == "buttons" and steps[2].messages[0]["content"]["kind"] == "buttons"
