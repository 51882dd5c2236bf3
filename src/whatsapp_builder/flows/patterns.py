"""Regular expressions written by chatbot authors, run against what customers type, with a time limit.

The standard library's `re` backtracks without bound: `(a+)+$` against 30 characters takes seconds, and a
match runs on the event loop that serves everyone. The `regex` module (re's syntax and more) avoids most of
that backtracking and stops any match after PATTERN_TIMEOUT_SECONDS; a match that takes longer counts as no
match.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import regex

from whatsapp_builder.logging import get_logger

PATTERN_TIMEOUT_SECONDS = 0.05
MAX_SUBJECT = 4096  # characters of the text looked at

log = get_logger(__name__)

_ERRORS = (regex.error, RecursionError, OverflowError, ValueError, TypeError, MemoryError)

MAX_REPEAT_COST = 10_000
"""The most characters a pattern may stand for through counted repeats, summed along it and nested ones
multiplied: the regex module expands `a{1000000000}` in memory when it compiles it (gigabytes: a server
killed), `(a{1000}){1000}` takes a second and 140 MB, and forty `a{9999}` in a row take 0.3 s and 55 MB that
its cache keeps. A phone number, `.{0,500}` or an IPv4 address are far below."""

MAX_GRAPH_PATTERN_COST = 100_000
"""The most all of a chatbot's patterns may cost together (each its repeat cost plus its length): compiling is
done when a flow is saved or checked, on the event loop, and two thousand patterns of 9,900 took ten seconds."""

TURN_PATTERN_SECONDS = 0.25
"""The time all of a turn's matches may take together: each stops after PATTERN_TIMEOUT_SECONDS, but a flow can
run many (twenty rules in a condition that a jump brings back fifty times), all on the event loop."""

_COUNTED_REPEAT = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
_TURN_BUDGET: ContextVar[list[float] | None] = ContextVar("pattern_budget", default=None)


# The regex module's parser (private: `_parsed` and `_tree_cost` fall back to `_scanned_cost` if it changes).
_REGEX_CORE: Any = importlib.import_module("regex._regex_core")

_LAYOUT_FLAGS = regex.compile(r"\(\?[A-Za-z0-9-]*(?:x|V1)[A-Za-z0-9-]*[:)]")
"""Inline flags for verbose mode (`#` comments, where a `)` is no group's end) or version 1 (nested sets): the
fallback reading (`_scanned_cost`) could take a literal `)` for a group's end there and undercount a repeat."""


@functools.lru_cache(maxsize=1024)  # a flow's few patterns, checked again at every match
def repeat_cost(pattern: str) -> int:
    """What `pattern` expands to through counted repeats (`{n}`, `{n,m}`): element costs summed along it (the
    branches of an alternation too: an upper bound), a repeat multiplying the element before it.

    Read from the `regex` module's own parse of the pattern, which expands nothing: a hand-written reading was
    fooled by what only the real parser knows (a `)` in a POSIX class `[[:alpha:])]` or an escaped one in a
    comment `(?#\\))`, `#` comments in verbose mode), and let patterns of millions of characters through."""
    if not _PARSER_UNDERSTOOD:
        return MAX_REPEAT_COST + 1 if _LAYOUT_FLAGS.search(pattern) else _scanned_cost(pattern)
    try:
        tree = _parsed(pattern)
    except RecursionError:
        return MAX_REPEAT_COST + 1  # nested deeper than the parser goes: no chatbot's
    except regex.error:
        return NOT_A_PATTERN
    except Exception:  # the parser failed otherwise: refused rather than guessed
        return MAX_REPEAT_COST + 1
    try:
        return _tree_cost(tree)
    except Exception:  # RecursionError, or a tree not as known
        return MAX_REPEAT_COST + 1


NOT_A_PATTERN = -1
"""`repeat_cost` of what the regex module's parser refuses (a syntax error): no pattern, never compiled."""


def _parsed(pattern: str) -> Any:
    """The regex module's parse tree of `pattern`, made as `regex.compile` makes it before compiling."""
    core = _REGEX_CORE
    core.DEFAULT_VERSION = regex.DEFAULT_VERSION  # as regex.compile sets it
    flags = 0
    for _ in range(100):  # an inline global flag restarts the parse with it; the flags only grow
        source = core.Source(pattern)
        info = core.Info(flags, source.char_type, {})
        info.guess_encoding = regex.UNICODE
        source.ignore_space = bool(info.flags & core.VERBOSE)
        source.use_unicode_space(bool(info.flags & core.VERSION1))
        try:
            return core._parse_pattern(source, info)
        except core._UnscopedFlagSet:
            if info.global_flags == flags:
                break
            flags = info.global_flags
    raise RuntimeError("the inline flags do not settle")


def _tree_cost(node: Any) -> int:
    """The cost of a parse tree's node; a kind of node not known here costs more than any limit."""
    core = _REGEX_CORE
    if isinstance(node, core.StringSet | core.PrecompiledCode):
        return MAX_REPEAT_COST + 1
    if isinstance(node, core.Sequence):
        cost = sum(_tree_cost(item) for item in node.items)
    elif isinstance(node, core.Branch):
        cost = sum(_tree_cost(branch) for branch in node.branches)
    elif isinstance(node, core.LookAroundConditional):
        cost = _tree_cost(node.subpattern) + _tree_cost(node.yes_item) + _tree_cost(node.no_item)
    elif isinstance(node, core.Conditional):
        cost = _tree_cost(node.yes_item) + _tree_cost(node.no_item)
    elif isinstance(node, core.String):  # Literal too
        cost = len(node.characters)
    elif isinstance(node, core.GreedyRepeat):  # lazy and possessive too; unbounded ones count their least
        high = node.max_count
        count = max(node.min_count, high if high is not None else node.min_count)
        cost = max(_tree_cost(node.subpattern), 1) * max(count, 1)
    elif isinstance(node, core.Group | core.Atomic | core.LookAround | core.Fuzzy):
        cost = max(_tree_cost(node.subpattern), 1)
    elif isinstance(node, core.CallRef):
        cost = max(_tree_cost(node.parsed), 1)
    elif isinstance(
        node,
        core.Character
        | core.Property
        | core.Range
        | core.SetBase
        | core.Any
        | core.Grapheme
        | core.ZeroWidthBase
        | core.RefGroup
        | core.CallGroup,
    ):
        cost = 1
    else:
        return MAX_REPEAT_COST + 1
    return int(min(cost, MAX_REPEAT_COST * 1000))  # enough to refuse; no giant numbers multiplied further


def _parser_understood() -> bool:
    """Whether the regex module's parse trees are still what `_tree_cost` reads (checked once, at import)."""
    known = {
        "(a{3}b){4}": 16,
        "x(?:ab|c){2,5}y*": 17,
        "(?x) a{2} # (\n": 2,
        "(?(1)ab|c)": 3,
        "(?(?=x)x{5}|yy)": 8,
        "[[:alpha:])]{7}": 7,
        "(?>a{2}){3}\\d+?": 7,
    }
    try:
        return all(_tree_cost(_parsed(pattern)) == cost for pattern, cost in known.items())
    except Exception:
        return False


_PARSER_UNDERSTOOD = _parser_understood()


def _scanned_cost(pattern: str) -> int:
    """`repeat_cost` read by hand, for a regex module whose parser this code does not know."""
    frames = [[0, 0]]  # per open group: [the cost of its elements so far, the cost of the element just before]

    def element(cost: int) -> None:
        frame = frames[-1]
        frame[0], frame[1] = frame[0] + frame[1], cost

    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            element(1)
            i += 2
        elif char == "[":
            end = i + 1
            if end < len(pattern) and pattern[end] == "^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            element(1)
            i = end + 1
        elif pattern.startswith("(?#", i):  # a comment: up to the first ")", whatever it holds
            end = pattern.find(")", i)
            i = len(pattern) if end < 0 else end + 1
        elif char == "(":
            element(0)
            frames.append([0, 0])
            i += 1
        elif char == ")" and len(frames) > 1:
            total, last = frames.pop()
            element(max(total + last, 1))
            i += 1
        elif char == "{" and frames[-1][1] and (match := _COUNTED_REPEAT.match(pattern, i)) and (match[1] or match[2]):
            low, high = match[1], match[2]
            count = max(int(low or 0), int(high or 0) if high else 0)
            frames[-1][1] *= max(count, 1)
            i = match.end()
        else:
            element(1)
            i += 1
    return sum(total + last for total, last in frames)


@contextmanager
def turn_budget(seconds: float = TURN_PATTERN_SECONDS) -> Iterator[None]:
    """Within this block (one turn of a flow), matches share `seconds`; once spent, a match counts as none."""
    token = _TURN_BUDGET.set([seconds])
    try:
        yield
    finally:
        _TURN_BUDGET.reset(token)


def is_valid(pattern: str) -> bool:
    """Whether `pattern` compiles, within MAX_REPEAT_COST (checked first: compiling is what costs)."""
    try:
        if not 0 <= repeat_cost(pattern) <= MAX_REPEAT_COST:
            return False
        regex.compile(pattern)
    except _ERRORS:
        return False
    return True


def _matches(pattern: str, text: str, *, whole: bool) -> bool:
    match = regex.fullmatch if whole else regex.search
    budget = _TURN_BUDGET.get()
    timeout = PATTERN_TIMEOUT_SECONDS if budget is None else min(PATTERN_TIMEOUT_SECONDS, budget[0])
    if timeout <= 0:
        return False  # the turn's time for patterns is spent (said once, when it ran out)
    started = time.perf_counter()
    try:
        if not 0 <= repeat_cost(pattern) <= MAX_REPEAT_COST:  # saved before this check existed: never compile it
            return False
        return match(pattern, text[:MAX_SUBJECT], timeout=timeout) is not None
    except TimeoutError:
        log.warning("a chatbot's pattern took too long; counted as no match", pattern=pattern[:200])
        return False
    except _ERRORS:
        return False
    finally:
        if budget is not None:
            before, budget[0] = budget[0], budget[0] - (time.perf_counter() - started)
            if budget[0] <= 0 < before:
                log.warning("a turn's patterns took too long; its further matches count as none")


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` occurs in `text`."""
    return _matches(pattern, text, whole=False)


def full_match(pattern: str, text: str) -> bool:
    """Whether `pattern` matches all of `text`."""
    return _matches(pattern, text, whole=True)
