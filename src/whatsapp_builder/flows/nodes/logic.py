"""condition, set_variable, jump and delay nodes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from whatsapp_builder.flows.conditions import evaluate_condition
from whatsapp_builder.flows.graph import FlowNode
from whatsapp_builder.flows.nodes.base import Finish, Follow, GoTo, NodeHandler, Outcome, TurnContext, Wait
from whatsapp_builder.flows.schemas import MAX_DELAY_SECONDS
from whatsapp_builder.flows.types import FlowInput

VALUE_LIMIT = 4096


async def enter_condition(ctx: TurnContext, node: FlowNode) -> Outcome:
    result = evaluate_condition(node.data, ctx.scope)
    ctx.log.append(f"condition {node.id}: {str(result).lower()}")
    return Follow("true" if result else "false")


def assignments(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (variable, raw value) pairs of a set_variable node, in either accepted form."""
    pairs: list[tuple[str, Any]] = []
    raw = data.get("assignments")
    items = [cast(Mapping[str, Any], a) for a in raw if isinstance(a, Mapping)] if isinstance(raw, list) else []
    if not items and "variable" in data:
        items = [data]
    for item in items:
        name = item.get("variable")
        if isinstance(name, str) and name:
            pairs.append((name, item.get("value")))
    return pairs


async def enter_set_variable(ctx: TurnContext, node: FlowNode) -> Outcome:
    for name, raw in assignments(node.data):
        value = ctx.render(raw, VALUE_LIMIT) if isinstance(raw, str) else raw
        ctx.set_variable(name, value)
        ctx.log.append(f"set {name} = {value!r}")
    return Follow()


async def enter_jump(ctx: TurnContext, node: FlowNode) -> Outcome:
    target = node.data.get("targetNodeId")
    if not isinstance(target, str) or target not in ctx.graph.nodes:
        ctx.log.append(f"jump {node.id}: target {target!r} does not exist")
        return Finish("node_missing")
    return GoTo(target)


async def enter_delay(ctx: TurnContext, node: FlowNode) -> Outcome:
    raw = node.data.get("seconds")
    seconds = raw if isinstance(raw, int) and not isinstance(raw, bool) else 1
    seconds = max(1, min(seconds, MAX_DELAY_SECONDS))
    wake_at = ctx.now + timedelta(seconds=seconds)
    ctx.log.append(f"delay {node.id}: waiting {seconds}s until {wake_at.isoformat()}")
    return Wait("delay", wake_at)


async def resume_delay(ctx: TurnContext, node: FlowNode, flow_input: FlowInput) -> Outcome:
    return Follow()


CONDITION = NodeHandler(enter_condition)
SET_VARIABLE = NodeHandler(enter_set_variable)
JUMP = NodeHandler(enter_jump)
DELAY = NodeHandler(enter_delay, resume_delay)
