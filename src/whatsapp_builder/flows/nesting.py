"""How deeply JSON values may nest: chatbot graphs, metadata and flow variables.

A value nested hundreds of levels deep can be stored but not serialized again (pydantic gives up at about 250
levels, ``json`` at about 1,000), so it must be refused on input, or cut, before it is stored. Nothing here
recurses deeper than the limit, so any depth is safe to check.
"""

from __future__ import annotations

from typing import Any, Final

MAX_JSON_DEPTH: Final = 32
"""Levels of arrays and objects a chatbot's nodes, edges or metadata, or a flow variable, may have."""


def json_depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` has more than ``limit`` levels of lists/dicts (a scalar has 0, ``[]`` has 1)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list | tuple):
            children = current
        else:
            continue
        level += 1
        if level > limit:
            return True
        stack.extend((child, level) for child in children if isinstance(child, dict | list | tuple))
    return False


def cut_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    """``value`` with every list/dict beyond ``limit`` levels replaced by None (the rest is copied as is)."""
    if isinstance(value, dict):
        if limit <= 0:
            return None
        return {key: cut_deep(item, limit - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if limit <= 0:
            return None
        return [cut_deep(item, limit - 1) for item in value]
    return value


def too_deep_message(what: str, limit: int = MAX_JSON_DEPTH) -> str:
    return f"{what} is nested more than {limit} levels deep (arrays and objects)"
