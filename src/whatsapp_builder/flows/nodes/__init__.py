"""One handler per node type."""

from __future__ import annotations

from whatsapp_builder.flows.nodes.base import NodeHandler
from whatsapp_builder.flows.nodes.choices import BUTTONS, LIST
from whatsapp_builder.flows.nodes.http_request import HTTP_REQUEST
from whatsapp_builder.flows.nodes.logic import CONDITION, DELAY, JUMP, SET_VARIABLE
from whatsapp_builder.flows.nodes.messaging import END, HANDOFF, MESSAGE, START
from whatsapp_builder.flows.nodes.question import QUESTION


def handler_for(node_type: str) -> NodeHandler | None:
    """The handler of a node type, or None for an unknown type."""
    match node_type:
        case "start":
            return START
        case "message":
            return MESSAGE
        case "question":
            return QUESTION
        case "buttons":
            return BUTTONS
        case "list":
            return LIST
        case "condition":
            return CONDITION
        case "set_variable":
            return SET_VARIABLE
        case "http_request":
            return HTTP_REQUEST
        case "delay":
            return DELAY
        case "jump":
            return JUMP
        case "handoff":
            return HANDOFF
        case "end":
            return END
    return None


__all__ = ["NodeHandler", "handler_for"]
