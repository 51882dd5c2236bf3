"""How deeply JSON values may nest: chatbot graphs, metadata and flow variables.

A value nested hundreds of levels deep can be stored but not serialized again (pydantic gives up at about 250
levels, ``json`` at about 1,000), so it must be refused on input, or cut, before it is stored. Nothing here
recurses deeper than the limit, so any depth is safe to check.
"""

from __future__ import annotations

import math
from typing import Any, Final

from whatsapp_builder.core.schemas import text_problem

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


def storable_json(value: Any) -> Any:
    """`value`, refused (ValueError, for a pydantic validator) when nested deeper than MAX_JSON_DEPTH (it could be
    stored, but not served or exported again) or holding what PostgreSQL's JSON cannot store."""
    if json_depth_exceeds(value):
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects)")
    unstorable = _unstorable_at(value, "")
    if unstorable is not None:
        raise ValueError(unstorable)
    return value


def _unstorable_at(value: Any, path: str) -> str | None:
    """Where `value` holds what PostgreSQL's JSON cannot store (U+0000, half a surrogate pair, NaN or an
    infinity), as "at <path>: <why>"; None when nothing does. (Depth is bounded by storable_json's check first.)"""
    if isinstance(value, str):
        problem = text_problem(value)
        return f"at {path or 'the value'}: {problem}" if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"at {path or 'the value'}: {value} is not a JSON number"
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = text_problem(str(key))
            if problem:
                return f"at {where!r} (a key): {problem}"
            found = _unstorable_at(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_at(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None
