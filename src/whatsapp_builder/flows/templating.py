"""``{{variable}}`` substitution and WhatsApp-safe truncation. Never evaluates code, never raises."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, cast

from whatsapp_builder.flows.types import ContactInfo

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*(?:\|([^{}|]*))?\}\}")
"""`{{name}}`, or `{{name | fallback}}`: the fallback text (trimmed) when the value is missing or empty."""
ELLIPSIS = "\u2026"
_MISSING = object()


class Scope:
    """Read-only view of the variables a template may use: user variables plus the built-ins."""

    def __init__(self, variables: Mapping[str, Any], contact: ContactInfo) -> None:
        self._variables = variables
        self._contact = contact

    def lookup(self, name: str) -> Any:
        """The value of ``name`` (dotted paths walk into dicts and lists), or None when missing."""
        if name == "contact.name":
            return self._contact.name
        if name == "contact.phone":
            return self._contact.phone
        if name in self._variables:
            return self._variables[name]
        value = extract_path(self._variables, name)
        return None if value is _MISSING else value

    def render(self, template: str) -> str:
        return render(template, self)


def extract_path(root: object, path: str) -> Any:
    """Walk a dotted path (``data.items.0.name``) through dicts and lists; ``_MISSING`` when absent."""
    current: object = root
    for part in path.split(".") if path else []:
        if isinstance(current, Mapping):
            mapping = cast(Mapping[str, Any], current)
            if part not in mapping:
                return _MISSING
            current = mapping[part]
        elif isinstance(current, list) and part.isascii() and part.isdigit():
            items = current
            index = int(part)
            if index >= len(items):
                return _MISSING
            current = items[index]
        else:
            return _MISSING
    return current


def get_path(root: object, path: str) -> Any:
    """Like :func:`extract_path` but returns None when the path is absent."""
    value = extract_path(root, path)
    return None if value is _MISSING else value


def to_text(value: Any) -> str:
    """How a variable value appears inside a text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return ""


def render(template: object, scope: Scope) -> str:
    """Replace every ``{{name}}`` with the variable's text; missing variables become ``""``, or the fallback of
    ``{{name | fallback}}`` (which also stands in for an empty text)."""
    if not isinstance(template, str):
        return to_text(template)

    def placeholder(match: re.Match[str]) -> str:
        text = to_text(scope.lookup(match.group(1)))
        fallback = match.group(2)
        return text if text or fallback is None else fallback.strip()

    return PLACEHOLDER.sub(placeholder, template)


def render_value(value: Any, scope: Scope) -> Any:
    """Render every string inside a JSON-like value (dict keys stay as written)."""
    if isinstance(value, str):
        return render(value, scope)
    if isinstance(value, dict):
        items = value
        return {str(k): render_value(v, scope) for k, v in items.items()}
    if isinstance(value, list):
        return [render_value(v, scope) for v in value]
    return value


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + ELLIPSIS
