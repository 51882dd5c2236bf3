"""Evaluating condition nodes. Bad data evaluates to false; nothing raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from whatsapp_builder.flows import patterns
from whatsapp_builder.flows.answers import parse_number
from whatsapp_builder.flows.templating import Scope, to_text


def is_set(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _regex_search(pattern: str, subject: str) -> bool:
    return patterns.search(pattern, subject)


def _compare(left: object, right: object) -> int | None:
    """-1/0/1: numerically when both are numbers, as case-insensitive text when neither is; else None."""
    a, b = parse_number(left), parse_number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if a is not None or b is not None:
        return None  # a number against a non-number: not comparable
    sa, sb = to_text(left).strip().casefold(), to_text(right).strip().casefold()
    if not sa or not sb:
        return None
    return (sa > sb) - (sa < sb)


def evaluate_rule(rule: Mapping[str, Any], scope: Scope) -> bool:
    name = rule.get("variable")
    operator = rule.get("operator")
    actual = scope.lookup(name) if isinstance(name, str) else None
    if operator == "is_set":
        return is_set(actual)
    if operator == "is_not_set":
        return not is_set(actual)
    raw = rule.get("value")
    expected: object = scope.render(raw) if isinstance(raw, str) else raw
    if operator in ("equals", "not_equals"):
        a, b = parse_number(actual), parse_number(expected)
        if a is not None and b is not None:
            same = a == b
        else:
            same = to_text(actual).strip().casefold() == to_text(expected).strip().casefold()
        return same if operator == "equals" else not same
    subject = to_text(actual)
    if operator == "contains":
        return to_text(expected).casefold() in subject.casefold()
    if operator == "starts_with":
        return subject.strip().casefold().startswith(to_text(expected).strip().casefold())
    if operator == "matches_regex":
        return isinstance(raw, str) and _regex_search(raw, subject)
    if operator in ("greater_than", "less_than"):
        order = _compare(actual, expected)
        if order is None:
            return False
        return order > 0 if operator == "greater_than" else order < 0
    return False


def evaluate_condition(data: Mapping[str, Any], scope: Scope) -> bool:
    rules_raw = data.get("rules")
    rules = [r for r in rules_raw if isinstance(r, Mapping)] if isinstance(rules_raw, list) else []
    results = (evaluate_rule(cast(Mapping[str, Any], r), scope) for r in rules)
    if data.get("match") == "any":
        return any(results)
    return bool(rules) and all(results)
