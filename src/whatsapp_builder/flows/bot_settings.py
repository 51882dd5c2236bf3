"""A chatbot's run-time settings, kept in its `metadata`: `sessionTimeoutMinutes` and `restartKeywords`.

The API refuses values it cannot use (`metadata_problems`, a 422 when saving), and the engine reads them
defensively (`engine_settings`): a value stored before these checks, or written to the database by hand, falls
back to its default instead of failing every conversation of every chatbot.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, TypeGuard

from whatsapp_builder.flows.types import EngineSettings

MAX_SESSION_TIMEOUT_MINUTES = 366 * 24 * 60  # a year
MAX_RESTART_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 100
DEFAULT_RESTART_KEYWORDS = ("restart", "start over")


def _timeout_ok(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))  # isfinite() cannot take an int of 400 digits
        and 0 < value <= MAX_SESSION_TIMEOUT_MINUTES
    )


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
    keywords = metadata.get("restartKeywords")
    if keywords is not None and not (
        isinstance(keywords, list)
        and len(keywords) <= MAX_RESTART_KEYWORDS
        and all(isinstance(k, str) and k.strip() and len(k) <= MAX_KEYWORD_LENGTH for k in keywords)
    ):
        problems.append(
            f"restartKeywords must be a list of at most {MAX_RESTART_KEYWORDS} texts of 1 to {MAX_KEYWORD_LENGTH}"
            " characters, not only spaces"
        )
    return problems


def engine_settings(metadata: object, *, max_steps: int) -> EngineSettings:
    meta: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
    timeout = meta.get("sessionTimeoutMinutes")
    keywords = meta.get("restartKeywords")
    return EngineSettings(
        session_timeout=dt.timedelta(minutes=float(timeout)) if _timeout_ok(timeout) else None,
        restart_keywords=tuple(k for k in keywords[:MAX_RESTART_KEYWORDS] if isinstance(k, str) and k.strip())
        if isinstance(keywords, list)
        else DEFAULT_RESTART_KEYWORDS,
        max_steps=max_steps,
    )
