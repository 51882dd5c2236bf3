"""Save-time validation of a chatbot graph: reports every problem, never raises."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from whatsapp_builder.flows import patterns
from whatsapp_builder.flows.handles import WAITING_TYPES, normalize_handle, option_ids, source_handles
from whatsapp_builder.flows.schemas import NODE_SCHEMAS, VARIABLE_PATTERN
from whatsapp_builder.flows.templating import PLACEHOLDER
from whatsapp_builder.flows.words import keyword_key

NODE_ID_LIMIT = 255  # the seed's conversation_contexts."currentNodeId" varchar(255)

MAX_LIST_ROWS = 10
RUNNABLE_ERROR_CODES = frozenset({"invalid_url", "blank_title", "invalid_regex", "too_many_patterns"})
"""Errors that block publishing but not running a graph published before they were checked: the engine copes
with them (an http_request node with a non-http URL takes its `error` exit, a media message with one fails at
WhatsApp, a blank option title is sent as its id, a pattern refused is never compiled and matches nothing), so
such a chatbot keeps working."""


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "message": self.message,
            "nodeId": self.node_id,
            "edgeId": self.edge_id,
            "field": self.field,
        }


@dataclass
class ValidationReport:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, list[dict[str, str | None]]]:
        return {
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
        }


@dataclass(frozen=True)
class _Node:
    id: str
    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class _Edge:
    id: str | None
    source: str
    target: str
    handle: str | None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_path(error: ValidationError) -> str:
    return ".".join(["data", *(str(p) for p in error.absolute_path)])


def _schema_message(node_type: str, error: ValidationError) -> str:
    if error.validator == "anyOf" and not error.absolute_path:
        if node_type == "message":
            return "a message node needs `text` or `media`"
        if node_type == "set_variable":
            return "set_variable needs `assignments` or `variable` and `value`"
    message = _plain(error) or error.message
    return message if len(message) <= 300 else message[:297] + "..."


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(error: ValidationError) -> str | None:
    """JSON Schema's message in words for the builder's users: no regular expressions, no schema jargon. None
    where the library's own is clear enough."""
    kind, limit, value = error.validator, error.validator_value, error.instance
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    what = f"{title} " if isinstance(title, str) else ""
    if kind == "pattern" and limit == VARIABLE_PATTERN:
        return (
            f"{what}{_shown(value)} is not a variable name: letters, digits and _, not starting with a digit,"
            " parts joined by dots (`order.size`)"
        ).strip()
    if kind == "pattern":
        return f"{what}{_shown(value)} does not have the form this field takes".strip()
    if kind == "minLength" and value == "":
        return f"{what}must not be empty".strip()
    if kind == "minLength" and isinstance(value, str):
        return f"{what}is too short: at least {limit} characters".strip()
    if kind == "maxLength" and isinstance(value, str):
        return f"{what}is too long: {len(value)} characters, at most {limit}".strip()
    if kind == "required" and isinstance(limit, list):
        missing = [name for name in limit if isinstance(value, dict) and name not in value]
        if missing:
            return f"`{missing[0]}` is required"
    if kind == "enum" and isinstance(limit, list):
        return f"{what}must be one of {', '.join(str(v) for v in limit)}".strip()
    return None


class _Checker:
    def __init__(self) -> None:
        self.report = ValidationReport()
        self.nodes: dict[str, _Node] = {}
        self.unusable: set[str] = set()  # ids of nodes refused above (too long, unknown type): not "missing"
        self.edges: list[_Edge] = []
        self.validators = {t: Draft202012Validator(s) for t, s in NODE_SCHEMAS.items()}
        self.pattern_checks = _PatternChecks()

    def error(self, code: str, message: str, **where: str | None) -> None:
        self.report.errors.append(Problem(code, message, **where))

    def warning(self, code: str, message: str, **where: str | None) -> None:
        self.report.warnings.append(Problem(code, message, **where))

    # -- structure -------------------------------------------------------------------------------------
    def read_nodes(self, nodes: object) -> None:
        if not isinstance(nodes, list):
            self.error("invalid_nodes", "`nodes` must be a list of node objects", field="nodes")
            return
        for index, raw in enumerate(nodes):
            where = f"nodes.{index}"
            if not isinstance(raw, dict):
                self.error("invalid_node", f"node {index} is not an object", field=where)
                continue
            node = raw
            ident, node_type, data = node.get("id"), node.get("type"), node.get("data", {})
            if not isinstance(ident, str) or not ident:
                self.error("invalid_node", f"node {index} has no string `id`", field=f"{where}.id")
                continue
            if len(ident) > NODE_ID_LIMIT:
                self.unusable.add(ident)
                # conversation_contexts."currentNodeId" is varchar(255): a longer id could not be stored as where a
                # conversation is, and the bot would lose its place.
                self.error(
                    "invalid_node",
                    f"node {index} has an id longer than {NODE_ID_LIMIT} characters",
                    field=f"{where}.id",
                )
                continue
            if ident in self.nodes:
                self.error("duplicate_node_id", f"node id {ident!r} is used more than once", node_id=ident)
                continue
            if not isinstance(node_type, str) or node_type not in NODE_SCHEMAS:
                self.unusable.add(ident)
                self.error(
                    "unknown_node_type",
                    f"node {ident!r} has unknown type {_short(node_type)}",
                    node_id=ident,
                    field="type",
                )
                continue
            if not isinstance(data, dict):
                self.error("invalid_node_data", "`data` must be an object", node_id=ident, field="data")
                data = {}
            self.nodes[ident] = _Node(ident, node_type, cast(dict[str, Any], data))
            self.check_schema(self.nodes[ident])

    def read_edges(self, edges: object) -> None:
        if not isinstance(edges, list):
            self.error("invalid_edges", "`edges` must be a list of edge objects", field="edges")
            return
        seen_ids: set[str] = set()
        for index, raw in enumerate(edges):
            where = f"edges.{index}"
            if not isinstance(raw, dict):
                self.error("invalid_edge", f"edge {index} is not an object", field=where)
                continue
            edge = raw
            raw_id = edge.get("id")
            ident = raw_id if isinstance(raw_id, str) else None
            source, target, handle = edge.get("source"), edge.get("target"), edge.get("sourceHandle")
            if not isinstance(source, str) or not isinstance(target, str):
                self.error(
                    "invalid_edge",
                    f"edge {index} needs string `source` and `target`",
                    edge_id=ident,
                    field=where,
                )
                continue
            if handle is not None and not isinstance(handle, str):
                self.error(
                    "invalid_edge",
                    f"edge {index} has a non-string `sourceHandle`",
                    edge_id=ident,
                    field=f"{where}.sourceHandle",
                )
                continue
            if ident is not None:
                if ident in seen_ids:
                    self.error("duplicate_edge_id", f"edge id {ident!r} is used more than once", edge_id=ident)
                seen_ids.add(ident)
            self.edges.append(_Edge(ident, source, target, normalize_handle(handle)))

    # -- node data ---------------------------------------------------------------------------------------
    def check_schema(self, node: _Node) -> None:
        validator = self.validators[node.type]
        try:
            found = list(validator.iter_errors(dict(node.data)))
        except RecursionError:
            self.error("invalid_node_data", "`data` is nested too deeply", node_id=node.id, field="data")
            return
        # An empty text breaks its minLength and its pattern too: "must not be empty" says all there is to say.
        empty = {tuple(e.absolute_path) for e in found if e.validator == "minLength" and e.instance == ""}
        found = [e for e in found if not (e.validator == "pattern" and tuple(e.absolute_path) in empty)]
        errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
        for error in errors:
            self.error(
                "invalid_node_data",
                _schema_message(node.type, error),
                node_id=node.id,
                field=_field_path(error),
            )
        # Always, so that one pass lists every problem: each check skips the parts whose type is wrong (the schema
        # errors above already name those).
        for code, message, where in _semantic_problems(node, self.pattern_checks):
            self.error(code, message, node_id=node.id, field=where)
        for message, where in _title_clashes(node):
            self.warning("duplicate_title", message, node_id=node.id, field=where)
        for where, text in _broken_placeholders(node.data):
            self.warning(
                "template_syntax",
                f"{_short(text)} has a `{{{{` that opens no placeholder: customers get it as typed"
                " (a placeholder is {{name}} or {{name | fallback}})",
                node_id=node.id,
                field=where,
            )

    # -- graph ----------------------------------------------------------------------------------------------
    def check_graph(self, entries: Sequence[str] = ()) -> None:
        """`entries`: nodes the flow reaches other than from its start (a hand-off keyword's step)."""
        starts = [n.id for n in self.nodes.values() if n.type == "start"]
        if not starts:
            self.error("missing_start_node", "the chatbot needs exactly one start node (none found)")
        for extra in starts[1:]:
            self.error("multiple_start_nodes", "the chatbot needs exactly one start node", node_id=extra)
        taken: dict[tuple[str, str | None], str | None] = {}
        for edge in self.edges:
            self.check_edge(edge, taken)
        for node in self.nodes.values():
            if node.type == "jump":
                target = node.data.get("targetNodeId")
                if isinstance(target, str) and target not in self.nodes:
                    self.error(
                        "jump_target_missing",
                        f"jump target {target!r} does not exist",
                        node_id=node.id,
                        field="data.targetNodeId",
                    )
        if len(starts) == 1:
            self.check_reachability(starts[0], entries)
        self.check_ways_out()
        self.check_loops()

    def check_edge(self, edge: _Edge, taken: dict[tuple[str, str | None], str | None]) -> None:
        where = {"edge_id": edge.id}
        source = self.nodes.get(edge.source)
        if source is None:
            self.error("edge_source_missing", f"edge source {edge.source!r} {self._absent(edge.source)}", **where)
        if edge.target not in self.nodes:
            self.error("edge_target_missing", f"edge target {edge.target!r} {self._absent(edge.target)}", **where)
        if source is None:
            return
        handles = source_handles(source.type, source.data)
        if edge.handle not in handles:
            if not handles:
                message = f"a {source.type} node has no outgoing edges"
            else:
                names = ", ".join("default (null)" if h is None else repr(h) for h in handles)
                message = f"handle {edge.handle!r} is not a handle of {source.type} node (expected {names})"
            self.error("invalid_source_handle", message, node_id=source.id, field="sourceHandle", **where)
            return
        key = (edge.source, edge.handle)
        if key in taken:
            self.error(
                "duplicate_edge",
                f"handle {edge.handle!r} of node {edge.source!r} has more than one edge",
                node_id=edge.source,
                **where,
            )
        taken[key] = edge.id

    def _absent(self, ident: str) -> str:
        if ident in self.unusable:
            return "is a node that cannot be used (see that node's own error)"
        return "does not exist"

    def successors(self, node_id: str) -> Iterator[str]:
        for edge in self.edges:
            if edge.source == node_id and edge.target in self.nodes:
                yield edge.target
        node = self.nodes[node_id]
        target = node.data.get("targetNodeId") if node.type == "jump" else None
        if isinstance(target, str) and target in self.nodes:
            yield target

    def check_reachability(self, start: str, entries: Sequence[str]) -> None:
        seen = {start, *(e for e in entries if e in self.nodes)}
        queue = deque(seen)
        while queue:
            for nxt in self.successors(queue.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        for ident in self.nodes:
            if ident not in seen:
                self.warning("unreachable_node", f"node {ident!r} cannot be reached from the start node", node_id=ident)

    def loops(self) -> list[list[str]]:
        """The graph's cycles as strongly connected components (edges and jumps), each in node order.

        Tarjan's algorithm without recursion: graphs hold up to 2,000 nodes."""
        order = {ident: index for index, ident in enumerate(self.nodes)}
        following = {ident: list(dict.fromkeys(self.successors(ident))) for ident in self.nodes}
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []
        for root in self.nodes:
            if root in index:
                continue
            work: list[tuple[str, int]] = [(root, 0)]
            while work:
                ident, position = work.pop()
                if position == 0:
                    index[ident] = low[ident] = len(index)
                    stack.append(ident)
                    on_stack.add(ident)
                children = following[ident]
                if position < len(children):
                    work.append((ident, position + 1))
                    child = children[position]
                    if child not in index:
                        work.append((child, 0))
                    elif child in on_stack:
                        low[ident] = min(low[ident], index[child])
                    continue
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[ident])
                if low[ident] == index[ident]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == ident:
                            break
                    if len(component) > 1 or ident in following[ident]:
                        found.append(sorted(component, key=order.__getitem__))
        return sorted(found, key=lambda component: order[component[0]])

    def check_loops(self) -> None:
        """Warn about cycles in which no node waits for the customer: each run of them either ends at the step
        limit (no delay) or, with a delay, goes round again on every timer, forever (each timer is a new turn)."""
        for component in self.loops():
            if any(self.nodes[ident].type in WAITING_TYPES for ident in component):
                continue
            names = ", ".join(repr(ident) for ident in component[:10]) + (", ..." if len(component) > 10 else "")
            delays = [ident for ident in component if self.nodes[ident].type == "delay"]
            if delays:
                self.warning(
                    "timer_loop",
                    f"nodes {names} form a loop with a delay but no node that waits for the customer: once "
                    "entered, it sends again after every delay without the customer ever being asked anything "
                    "(unless a condition leads out of it)",
                    node_id=delays[0],
                )
            else:
                self.warning(
                    "endless_loop",
                    f"nodes {names} form a loop with no node that waits for the customer: once entered, it runs "
                    "until the step limit ends the conversation (unless a condition leads out of it)",
                    node_id=component[0],
                )

    def check_ways_out(self) -> None:
        outgoing: dict[str, set[str | None]] = {}
        for edge in self.edges:
            outgoing.setdefault(edge.source, set()).add(edge.handle)
        for node in self.nodes.values():
            if node.type not in WAITING_TYPES or node.type == "question":
                continue
            handles = outgoing.get(node.id, set())
            if not handles:
                self.warning(
                    "no_way_out",
                    f"{node.type} node {node.id!r} waits for an answer but has no outgoing edge",
                    node_id=node.id,
                )
                continue
            for option in option_ids(node.type, node.data):
                if option not in handles:
                    self.warning(
                        "unconnected_option",
                        f"option {option!r} has no outgoing edge (choosing it ends the conversation)",
                        node_id=node.id,
                        field="sourceHandle",
                    )


class _PatternChecks:
    """The verdicts on a graph's patterns, and what they may still cost together (each distinct one is compiled
    once, however many nodes use it)."""

    def __init__(self) -> None:
        self.budget = patterns.MAX_GRAPH_PATTERN_COST
        self.verdicts: dict[str, tuple[str, str] | None] = {}

    def problem(self, pattern: str) -> tuple[str, str] | None:
        """Why `pattern` cannot be a chatbot's (code, message), or None when it can."""
        if pattern not in self.verdicts:
            self.verdicts[pattern] = self._judge(pattern)
        return self.verdicts[pattern]

    def _judge(self, pattern: str) -> tuple[str, str] | None:
        repeats = patterns.repeat_cost(pattern)
        if repeats > patterns.MAX_REPEAT_COST:
            return "invalid_regex", f"invalid regular expression {_short(pattern)}: its counted repeats are too large"
        self.budget -= max(repeats, 0) + len(pattern)
        if self.budget < 0:
            return "too_many_patterns", (
                f"{_short(pattern)}: the flow's regular expressions together are too large to check"
                f" (at most {patterns.MAX_GRAPH_PATTERN_COST:,} characters, counted repeats expanded)"
            )
        if not patterns.is_valid(pattern):
            return "invalid_regex", f"invalid regular expression {_short(pattern)}"
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_SCHEME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"))


def _visible(text: str) -> bool:
    """Whether `text` shows anything: not only spaces, nor zero-width characters (which WhatsApp shows as nothing)."""
    return bool(text.translate(_INVISIBLE).strip())


def _url_problem(url: str) -> str | None:
    """Why a templated http_request URL can never be fetched, judging by its scheme; None when it can, or when a
    placeholder may supply the scheme (`{{base_url}}/orders`)."""
    text = url.strip()
    placeholder = text.find("{{")
    fixed = text if placeholder < 0 else text[:placeholder]
    scheme, colon, _ = fixed.partition(":")
    scheme = scheme.lower()
    if not colon or not scheme or not scheme[0].isalpha() or not set(scheme) <= _SCHEME_CHARACTERS:
        if placeholder >= 0:
            return None  # the scheme comes from a variable (or partly): only known at run time
        return f"URL {_short(text)} has no scheme: it must start with http:// or https://"
    if scheme not in ("http", "https"):
        return f"URL scheme {scheme!r} is not allowed: only http and https"
    if placeholder < 0:
        rest = text[len(scheme) + 1 :]
        host = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if rest.startswith("//") else ""
        if not host or host.startswith(":") or host.endswith("@"):
            return f"URL {_short(text)} names no host: write http(s)://host/path"
        if any(c.isspace() for c in text):
            return f"URL {_short(text)} holds spaces: write them as %20"
    return None


def _semantic_problems(node: _Node, pattern_checks: _PatternChecks) -> Iterator[tuple[str, str, str]]:
    """Rules JSON Schema does not express. Run on every node, whatever the schema found: each check reads only
    values of the expected type and skips the rest (ill-typed values are schema errors already)."""
    data = node.data
    if node.type in ("buttons", "list"):
        ids = option_ids(node.type, data)
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            yield "duplicate_option_id", f"option id {dup!r} is used more than once", "data"
        for where, title in _option_titles(node.type, data):
            if not _visible(title):
                yield "blank_title", "an option's title is only spaces: WhatsApp shows nothing to tap", where
    if node.type == "list":
        sections = data.get("sections")
        if len(option_ids("list", data)) > MAX_LIST_ROWS:
            yield "too_many_rows", "a list may hold at most 10 rows in total", "data.sections"
        if isinstance(sections, list) and len(sections) > 1:
            for index, section in enumerate(sections):
                if isinstance(section, dict) and not str(section.get("title") or "").strip():
                    yield (
                        "missing_section_title",
                        "section titles are required with several sections",
                        (f"data.sections.{index}.title"),
                    )
    if node.type == "question" and isinstance(data.get("validation"), dict):
        validation = cast(dict[str, Any], data["validation"])
        kind = validation.get("type")
        if kind == "options" and "options" not in validation:
            yield "missing_options", "validation type `options` needs `options`", "data.validation.options"
        if kind == "regex":
            pattern = validation.get("pattern")
            if "pattern" not in validation or pattern == "":
                yield "missing_pattern", "validation type `regex` needs `pattern`", "data.validation.pattern"
            elif isinstance(pattern, str) and (bad_regex := pattern_checks.problem(pattern)) is not None:
                yield *bad_regex, "data.validation.pattern"
        low, high = validation.get("min"), validation.get("max")
        if _is_number(low) and _is_number(high) and cast(float, low) > cast(float, high):
            yield "invalid_range", "`min` is greater than `max`", "data.validation"
        shortest, longest = validation.get("minLength"), validation.get("maxLength")
        if _is_number(shortest) and _is_number(longest) and cast(float, shortest) > cast(float, longest):
            yield "invalid_range", "`minLength` is greater than `maxLength`: no answer could pass", "data.validation"
    if node.type == "condition":
        rules = data.get("rules")
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            operator = rule.get("operator")
            where = f"data.rules.{index}.value"
            if isinstance(operator, str) and operator not in ("is_set", "is_not_set") and "value" not in rule:
                yield "missing_rule_value", f"operator {operator} needs a `value`", where
            value = rule.get("value", "")
            if (
                operator == "matches_regex"
                and isinstance(value, str | int | float)
                and (bad_regex := pattern_checks.problem(str(value))) is not None
            ):
                yield *bad_regex, where
    if node.type == "http_request":
        url = data.get("url")
        problem = _url_problem(url) if isinstance(url, str) and url.strip() else None
        if problem is not None:
            yield "invalid_url", problem, "data.url"
    media = data.get("media")
    if node.type == "message" and isinstance(media, dict) and isinstance(media.get("url"), str):
        problem = _url_problem(media["url"]) if media["url"].strip() else None
        if problem is not None:
            yield "invalid_url", problem, "data.media.url"


_NOT_TEMPLATES = frozenset({"regex", "pattern"})  # regular expressions: their braces are repeats, not placeholders


def _broken_placeholders(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, text) of strings in a node's data with a `{{` left once the placeholders are taken out."""
    stack: list[tuple[str, object]] = [("data", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            rest = PLACEHOLDER.sub("", value)
            if "{{" in rest:  # (a lone `}}` is common in a JSON body: only an opening is taken for a typo)
                yield where, value
        elif isinstance(value, Mapping):
            stack.extend((f"{where}.{k}", v) for k, v in value.items() if k not in _NOT_TEMPLATES)
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", v) for i, v in enumerate(value))


def _title_clashes(node: _Node) -> Iterator[tuple[str, str]]:
    """Options whose titles are equal but for case and surrounding spaces: a customer who types the title instead
    of tapping always gets the first of them (typed answers are matched so, nodes/choices.py)."""
    if node.type not in ("buttons", "list"):
        return
    first: dict[str, str] = {}
    for where, title in _option_titles(node.type, node.data):
        key = title.strip().casefold()
        if not key:
            continue
        if key in first:
            yield (
                f"title {title!r} is the same as {first[key]!r} when typed (case and surrounding spaces aside):"
                " a customer who types it always gets the first",
                where,
            )
        else:
            first[key] = title


def _option_titles(node_type: str, data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, title) of each button, or of each list row, whose title is a string."""
    if node_type == "buttons":
        buttons = data.get("buttons")
        for index, button in enumerate(buttons if isinstance(buttons, list) else []):
            if isinstance(button, dict) and isinstance(button.get("title"), str):
                yield f"data.buttons.{index}.title", button["title"]
        return
    sections = data.get("sections")
    for s_index, section in enumerate(sections if isinstance(sections, list) else []):
        rows = section.get("rows") if isinstance(section, dict) else None
        for r_index, row in enumerate(rows if isinstance(rows, list) else []):
            if isinstance(row, dict) and isinstance(row.get("title"), str):
                yield f"data.sections.{s_index}.rows.{r_index}.title", row["title"]


def validate_graph(nodes: object, edges: object, metadata: object = None) -> ValidationReport:
    """Check a graph as saved by the editor, with the chatbot's settings (`metadata`) that name its nodes. Every
    problem is reported; nothing raises."""
    checker = _Checker()
    checker.read_nodes(nodes)
    checker.read_edges(edges)
    checker.check_graph(_handoff_entry(checker, metadata))
    return checker.report


def _handoff_entry(checker: _Checker, metadata: object) -> list[str]:
    """The step the hand-off keywords go to (as the engine picks it), which they reach without an edge; and the
    warnings when they name no such step."""
    meta = metadata if isinstance(metadata, Mapping) else {}
    keywords = meta.get("handoffKeywords")
    chosen = meta.get("handoffNodeId")
    handoffs = [ident for ident, node in checker.nodes.items() if node.type == "handoff"]
    if isinstance(chosen, str) and chosen not in handoffs:
        checker.warning(
            "handoff_node_missing",
            f"handoffNodeId {chosen!r} is not a handoff node of this flow: "
            + ("hand-off keywords go to the first one" if handoffs else "hand-off keywords send no message"),
            field="metadata.handoffNodeId",
        )
    if not (isinstance(keywords, list) and any(isinstance(k, str) and k.strip() for k in keywords)):
        return []
    triggers = {
        keyword_key(t)
        for node in checker.nodes.values()
        if node.type == "start" and isinstance(node.data.get("triggerKeywords"), list)
        for t in node.data["triggerKeywords"]
        if isinstance(t, str) and t.strip()
    }
    for keyword in keywords:
        if isinstance(keyword, str) and keyword_key(keyword) in triggers:
            checker.warning(
                "handoff_keyword_is_trigger",
                f"{keyword!r} is a trigger keyword and a hand-off keyword: a customer who writes it is handed to a"
                " person instead of starting the chatbot",
                field="metadata.handoffKeywords",
            )
    if not handoffs:
        checker.warning(
            "handoff_without_message",
            "hand-off keywords hand off without telling the customer: the flow has no handoff node",
            field="metadata.handoffKeywords",
        )
        return []
    return [chosen if isinstance(chosen, str) and chosen in handoffs else handoffs[0]]
