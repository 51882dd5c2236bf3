"""Regular expressions written by chatbot authors, run against what customers type, with a time limit.

The standard library's `re` backtracks without bound: `(a+)+$` against 30 characters takes seconds, and a
match runs on the event loop that serves everyone. The `regex` module (re's syntax and more) avoids most of
that backtracking and stops any match after PATTERN_TIMEOUT_SECONDS; a match that takes longer counts as no
match.
"""

from __future__ import annotations

import functools

import regex

from whatsapp_builder.logging import get_logger

PATTERN_TIMEOUT_SECONDS = 0.05
MAX_SUBJECT = 4096  # characters of the text looked at

log = get_logger(__name__)

_ERRORS = (regex.error, RecursionError, OverflowError, ValueError, TypeError, MemoryError)

MAX_REPEAT_COST = 10_000
"""The most characters one piece of a pattern may stand for through counted repeats, nested ones multiplied:
the regex module expands `a{1000000000}` in memory when it compiles it (gigabytes: a server killed), and
`(a{1000}){1000}` takes a second and 140 MB. A phone number, `.{0,500}` or an IPv4 address are far below."""

_COUNTED_REPEAT = regex.compile(r"\{(\d*)(?:,(\d*))?\}")


@functools.lru_cache(maxsize=1024)  # a flow's few patterns, checked again at every match
def repeat_cost(pattern: str) -> int:
    """The largest product of counted repeats (`{n}`, `{n,m}`) along any nesting of groups in `pattern`."""
    frames = [0]  # per open group: the largest cost of an element in it so far
    last = 0  # the cost of the element just before (a quantifier multiplies it); 0 when there is none
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            last, i = 1, i + 2
        elif char == "[":
            end = i + 1
            if end < len(pattern) and pattern[end] == "^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            last, i = 1, end + 1
        elif char == "(":
            frames.append(0)
            last, i = 0, i + 1
        elif char == ")" and len(frames) > 1:
            last = max(frames.pop(), 1)
            i += 1
        elif char == "{" and last and (match := _COUNTED_REPEAT.match(pattern, i)) and (match[1] or match[2]):
            low, high = match[1], match[2]
            count = max(int(low or 0), int(high or 0) if high else 0)
            last = last * max(count, 1)
            i = match.end()
        else:
            last, i = 1, i + 1
        frames[-1] = max(frames[-1], last)
    return max(frames)


def is_valid(pattern: str) -> bool:
    """Whether `pattern` compiles, within MAX_REPEAT_COST (checked first: compiling is what costs)."""
    try:
        if repeat_cost(pattern) > MAX_REPEAT_COST:
            return False
        regex.compile(pattern)
    except _ERRORS:
        return False
    return True


def _matches(pattern: str, text: str, *, whole: bool) -> bool:
    match = regex.fullmatch if whole else regex.search
    try:
        if repeat_cost(pattern) > MAX_REPEAT_COST:  # saved before this check existed: never compile it
            return False
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
