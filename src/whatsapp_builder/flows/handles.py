"""Which source handles (edge ``sourceHandle`` values) each node type offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

DEFAULT_HANDLE = None
WAITING_TYPES = frozenset({"question", "buttons", "list"})


def normalize_handle(value: object) -> str | None:
    """``null``, absent and ``""`` all mean the default handle."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _ids(items: object) -> list[str]:
    if not isinstance(items, list):
        return []
    out: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            ident = cast(Mapping[str, Any], item).get("id")
            if isinstance(ident, str) and ident:
                out.append(ident)
    return out


def option_ids(node_type: str, data: Mapping[str, Any]) -> list[str]:
    """Button ids of a buttons node, row ids of a list node (in order), else empty."""
    if node_type == "buttons":
        return _ids(data.get("buttons"))
    if node_type == "list":
        rows: list[str] = []
        sections = data.get("sections")
        if isinstance(sections, list):
            for section in sections:
                if isinstance(section, Mapping):
                    rows.extend(_ids(cast(Mapping[str, Any], section).get("rows")))
        return rows
    return []


def source_handles(node_type: str, data: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The valid ``sourceHandle`` values of a node (``None`` is the default handle)."""
    if node_type in ("buttons", "list"):
        return tuple(option_ids(node_type, data))
    if node_type == "condition":
        return ("true", "false")
    if node_type == "question":
        return (None, "gave_up")
    if node_type == "http_request":
        return ("success", "error")
    if node_type in ("start", "message", "set_variable", "delay"):
        return (None,)
    return ()  # jump, handoff, end: no outgoing edges
