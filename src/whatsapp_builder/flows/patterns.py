"""Regular expressions written by chatbot authors, run against what customers type, with a time limit.

The standard library's `re` backtracks without bound: `(a+)+$` against 30 characters takes seconds, and a
match runs on the event loop that serves everyone. The `regex` module (re's syntax and more) avoids most of
that backtracking and stops any match after PATTERN_TIMEOUT_SECONDS; a match that takes longer counts as no
match.
"""

from __future__ import annotations

import regex

from whatsapp_builder.logging import get_logger

PATTERN_TIMEOUT_SECONDS = 0.05
MAX_SUBJECT = 4096  # characters of the text looked at

log = get_logger(__name__)

_ERRORS = (regex.error, RecursionError, OverflowError, ValueError, TypeError)


def is_valid(pattern: str) -> bool:
    try:
        regex.compile(pattern)
    except _ERRORS:
        return False
    return True


def _matches(pattern: str, text: str, *, whole: bool) -> bool:
    match = regex.fullmatch if whole else regex.search
    try:
        return match(pattern, text[:MAX_SUBJECT], timeout=PATTERN_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        log.warning("a chatbot's pattern took too long; counted as no match", pattern=pattern[:200])
        return False
    except _ERRORS:
        return False


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` occurs in `text`."""
    return _matches(pattern, text, whole=False)


def full_match(pattern: str, text: str) -> bool:
    """Whether `pattern` matches all of `text`."""
    return _matches(pattern, text, whole=True)
