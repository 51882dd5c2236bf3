"""A chatbot's run-time settings, kept in its `metadata`: `sessionTimeoutMinutes`, `sessionTimeoutMessage`,
`restartKeywords`, `handoffKeywords` and `handoffNodeId`.

The API refuses values it cannot use (`metadata_problems`, a 422 when saving), and the engine reads them
defensively (`engine_settings`): a value stored before these checks, or written to the database by hand, falls
back to its default instead of failing every conversation of every chatbot.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, TypeGuard

from whatsapp_builder.flows.types import EngineSettings
from whatsapp_builder.flows.words import keyword_key

MAX_SESSION_TIMEOUT_MINUTES = 366 * 24 * 60  # a year
MAX_RESTART_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 100
MAX_NODE_ID_LENGTH = 200
MAX_TIMEOUT_MESSAGE_LENGTH = 1024
DEFAULT_RESTART_KEYWORDS = ("restart", "start over")


def _timeout_ok(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))  # isfinite() cannot take an int of 400 digits
        and 0 < value <= MAX_SESSION_TIMEOUT_MINUTES
    )


def _timeout_message_ok(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_TIMEOUT_MESSAGE_LENGTH


def _keywords_ok(keywords: object) -> bool:
    return keywords is None or (
        isinstance(keywords, list)
        and len(keywords) <= MAX_RESTART_KEYWORDS
        and all(isinstance(k, str) and k.strip() and len(k) <= MAX_KEYWORD_LENGTH for k in keywords)
    )


def _keywords(value: object) -> tuple[str, ...] | None:
    """The usable keywords of a stored list; None when it is no list."""
    if not isinstance(value, list):
        return None
    return tuple(k for k in value[:MAX_RESTART_KEYWORDS] if isinstance(k, str) and k.strip())


def metadata_problems(metadata: dict[str, Any] | None) -> list[str]:
    """What is wrong with the settings in `metadata` (other keys are the client's own and left alone)."""
    if not metadata:
        return []
    problems = []
    timeout = metadata.get("sessionTimeoutMinutes")
    if timeout is not None and not _timeout_ok(timeout):
        problems.append(
            f"sessionTimeoutMinutes must be a number of minutes above 0 and at most {MAX_SESSION_TIMEOUT_MINUTES}"
        )
    message = metadata.get("sessionTimeoutMessage")
    if message is not None and not _timeout_message_ok(message):
        problems.append(
            f"sessionTimeoutMessage must be a text of 1 to {MAX_TIMEOUT_MESSAGE_LENGTH} characters, not only spaces"
        )
    for name in ("restartKeywords", "handoffKeywords"):
        if not _keywords_ok(metadata.get(name)):
            problems.append(
                f"{name} must be a list of at most {MAX_RESTART_KEYWORDS} texts of 1 to {MAX_KEYWORD_LENGTH}"
                " characters, not only spaces"
            )
    restart, handoff = metadata.get("restartKeywords"), metadata.get("handoffKeywords")
    if restart is None:  # not set: the default ones ([] is none at all)
        restart = list(DEFAULT_RESTART_KEYWORDS)
    if isinstance(restart, list) and isinstance(handoff, list):
        both = {keyword_key(k) for k in restart if isinstance(k, str)} & {
            keyword_key(k) for k in handoff if isinstance(k, str)
        }
        if both:
            problems.append(f"{sorted(both)[0]!r} cannot both restart the chatbot and hand off to a person")
    node_id = metadata.get("handoffNodeId")
    if node_id is not None and not (isinstance(node_id, str) and 0 < len(node_id) <= MAX_NODE_ID_LENGTH):
        problems.append(f"handoffNodeId must be the id of a handoff node (1 to {MAX_NODE_ID_LENGTH} characters)")
    return problems


def engine_settings(metadata: object, *, max_steps: int) -> EngineSettings:
    meta: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
    timeout = meta.get("sessionTimeoutMinutes")
    restart = _keywords(meta.get("restartKeywords"))
    node_id = meta.get("handoffNodeId")
    return EngineSettings(
        session_timeout=dt.timedelta(minutes=float(timeout)) if _timeout_ok(timeout) else None,
        restart_keywords=DEFAULT_RESTART_KEYWORDS if restart is None else restart,
        handoff_keywords=_keywords(meta.get("handoffKeywords")) or (),
        handoff_node_id=node_id if isinstance(node_id, str) else None,
        timeout_message=message if _timeout_message_ok(message := meta.get("sessionTimeoutMessage")) else None,
        max_steps=max_steps,
    )
