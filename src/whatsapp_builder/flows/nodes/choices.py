"""buttons and list nodes: send an interactive message, wait for a choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from whatsapp_builder.flows.graph import FlowNode
from whatsapp_builder.flows.nodes.base import Follow, NodeHandler, Outcome, TurnContext, Wait
from whatsapp_builder.flows.types import FlowInput, OutgoingMessage
from whatsapp_builder.flows.words import chosen_option

BUTTON_BODY_LIMIT = 1024
LIST_BODY_LIMIT = 4096
HEADER_LIMIT = 60
BUTTON_TITLE_LIMIT = 20
LIST_LABEL_LIMIT = 20
SECTION_TITLE_LIMIT = 24
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
FALLBACK_BODY = "Please choose an option."


def _objects(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [cast(Mapping[str, Any], v) for v in value if isinstance(v, Mapping)]


def _decorate(ctx: TurnContext, node: FlowNode, content: dict[str, Any], body_limit: int) -> None:
    body = ctx.render(node.data.get("text"), body_limit)
    content["body"] = body if body.strip() else FALLBACK_BODY
    for key in ("header", "footer"):
        text = ctx.render(node.data.get(key), HEADER_LIMIT)
        if text.strip():
            content[key] = text


def _title(ctx: TurnContext, item: Mapping[str, Any], limit: int) -> str:
    title = ctx.render(item.get("title"), limit)
    return title if title.strip() else truncate_id(item.get("id"), limit)


def truncate_id(value: object, limit: int) -> str:
    text = str(value) if value is not None else "?"
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _buttons(ctx: TurnContext, node: FlowNode) -> list[tuple[str, str]]:
    return [
        (str(b.get("id")), _title(ctx, b, BUTTON_TITLE_LIMIT))
        for b in _objects(node.data.get("buttons"))
        if isinstance(b.get("id"), str)
    ]


def _sections(ctx: TurnContext, node: FlowNode) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    for section in _objects(node.data.get("sections")):
        rows: list[dict[str, Any]] = []
        for row in _objects(section.get("rows")):
            if not isinstance(row.get("id"), str):
                continue
            item: dict[str, Any] = {"id": row["id"], "title": _title(ctx, row, ROW_TITLE_LIMIT)}
            description = ctx.render(row.get("description"), ROW_DESCRIPTION_LIMIT)
            if description.strip():
                item["description"] = description
            rows.append(item)
        entry: dict[str, Any] = {}
        title = ctx.render(section.get("title"), SECTION_TITLE_LIMIT)
        if title.strip():
            entry["title"] = title
        entry["rows"] = rows
        sections.append(entry)
    return sections


def _send_buttons(ctx: TurnContext, node: FlowNode) -> None:
    content: dict[str, Any] = {"kind": "buttons"}
    _decorate(ctx, node, content, BUTTON_BODY_LIMIT)
    content["buttons"] = [{"id": i, "title": t} for i, t in _buttons(ctx, node)]
    ctx.send(OutgoingMessage("interactive", content))


def _send_list(ctx: TurnContext, node: FlowNode) -> None:
    content: dict[str, Any] = {"kind": "list"}
    _decorate(ctx, node, content, LIST_BODY_LIMIT)
    label = ctx.render(node.data.get("buttonLabel"), LIST_LABEL_LIMIT)
    content["button"] = label if label.strip() else "Options"
    content["sections"] = _sections(ctx, node)
    ctx.send(OutgoingMessage("interactive", content))


def _choose(options: list[tuple[str, str]], chosen_id: str | None, text: str | None) -> tuple[str, str] | None:
    if chosen_id is not None:
        for option in options:
            if option[0] == chosen_id:
                return option
    if text is not None:
        chosen = chosen_option(text, [title for _, title in options])
        if chosen is not None:
            return options[chosen]
    return None


def _selected(ctx: TurnContext, node: FlowNode, option: tuple[str, str]) -> Outcome:
    variable = node.data.get("variable")
    if isinstance(variable, str) and variable:
        ctx.set_variable(variable, option[1])
    ctx.log.append(f"{node.type} {node.id}: chose {option[0]!r}")
    return Follow(option[0])


def _unseen(ctx: TurnContext, node: FlowNode, flow_input: FlowInput) -> bool:
    """A message written before these options were even sent (FlowInput.prompt_unseen): not asked again."""
    if flow_input.prompt_unseen:
        ctx.log.append(f"{node.type} {node.id}: written before the options were sent, not taken as a choice")
    return flow_input.prompt_unseen


def _invalid(ctx: TurnContext, node: FlowNode) -> None:
    ctx.log.append(f"{node.type} {node.id}: no option matched, asking again")
    prompt = node.data.get("invalidPrompt")
    if isinstance(prompt, str):
        ctx.send_text(prompt)


async def enter_buttons(ctx: TurnContext, node: FlowNode) -> Outcome:
    _send_buttons(ctx, node)
    return Wait("buttons")


async def resume_buttons(ctx: TurnContext, node: FlowNode, flow_input: FlowInput) -> Outcome:
    option = _choose(_buttons(ctx, node), flow_input.button_id, flow_input.text)
    if option is not None:
        return _selected(ctx, node, option)
    if _unseen(ctx, node, flow_input):
        return Wait("buttons")
    _invalid(ctx, node)
    _send_buttons(ctx, node)
    return Wait("buttons")


def _rows(ctx: TurnContext, node: FlowNode) -> list[tuple[str, str]]:
    return [(str(r["id"]), str(r["title"])) for s in _sections(ctx, node) for r in s["rows"]]


async def enter_list(ctx: TurnContext, node: FlowNode) -> Outcome:
    _send_list(ctx, node)
    return Wait("list")


async def resume_list(ctx: TurnContext, node: FlowNode, flow_input: FlowInput) -> Outcome:
    option = _choose(_rows(ctx, node), flow_input.list_row_id, flow_input.text)
    if option is not None:
        return _selected(ctx, node, option)
    if _unseen(ctx, node, flow_input):
        return Wait("list")
    _invalid(ctx, node)
    _send_list(ctx, node)
    return Wait("list")


def sent_body(ctx: TurnContext, node: FlowNode) -> str:
    """The body a buttons or list node sends (with the variables as they are now)."""
    content: dict[str, Any] = {}
    _decorate(ctx, node, content, BUTTON_BODY_LIMIT if node.type == "buttons" else LIST_BODY_LIMIT)
    return str(content["body"])


def offered(ctx: TurnContext, node: FlowNode) -> list[tuple[str, str]]:
    """The options (id, title as sent) of a buttons or list node; none for other nodes."""
    if node.type == "buttons":
        return _buttons(ctx, node)
    if node.type == "list":
        return _rows(ctx, node)
    return []


BUTTONS = NodeHandler(enter_buttons, resume_buttons)
LIST = NodeHandler(enter_list, resume_list)
