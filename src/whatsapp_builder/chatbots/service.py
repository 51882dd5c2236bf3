from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.chatbots.models import Chatbot, ChatbotStatus
from whatsapp_builder.chatbots.schemas import ChatbotCreate, ChatbotExport, ChatbotSummary, ChatbotUpdate
from whatsapp_builder.conversations.models import ConversationContext
from whatsapp_builder.core.errors import AppError, NotFound, PreconditionFailed, Unprocessable
from whatsapp_builder.flows.nesting import MAX_JSON_DEPTH, json_depth_exceeds
from whatsapp_builder.flows.stats import ContextSnapshot, aggregate
from whatsapp_builder.flows.validation import Problem, ValidationReport, validate_graph
from whatsapp_builder.flows.words import keyword_key
from whatsapp_builder.realtime import events


async def get_chatbot(session: AsyncSession, chatbot_id: uuid.UUID, *, if_match: str | None = None) -> Chatbot:
    """The chatbot; given `if_match` (an `If-Match` header), row-locked for this transaction and checked to be
    the version the client last saw (else 412 `edit_conflict`; 400 `invalid_if_match` when the header names no
    version at all)."""
    versions = None if if_match is None else parse_if_match(if_match)
    chatbot = await session.get(Chatbot, chatbot_id, with_for_update=True if if_match is not None else None)
    if chatbot is None:
        raise NotFound(f"Chatbot {chatbot_id} does not exist.")
    if versions is not None and not any(v is ANY_VERSION or v == chatbot.updated_at for v in versions):
        raise PreconditionFailed(
            "This chatbot was changed since you loaded it (in another tab, or by someone else). Load it again to"
            " see that version, or save without If-Match to replace it.",
            details=[{"field": "If-Match", "currentETag": etag(chatbot)}],
        )
    return chatbot


def etag(chatbot: Chatbot) -> str:
    """The chatbot's version as an HTTP entity tag: its `updatedAt`, which every save moves."""
    return '"' + chatbot.updated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") + '"'


class InvalidIfMatch(AppError):
    status_code = 400
    code = "invalid_if_match"


ANY_VERSION = object()
"""What `If-Match: *` names: whatever version is stored."""

# One element of If-Match's list (RFC 9110 section 13.1.1): an entity tag, weak (`W/"..."`) or strong, whose
# opaque part is any visible character but `"` (obs-text included: a header is read as Latin-1), or, our
# extension, the bare `updatedAt` the web editor sends (a token without spaces, commas or quotes); then optional
# white space and the comma before the next element, or the end. Empty elements are allowed, as in every list.
_ELEMENT = re.compile(r'[ \t]*(?:(?:W/)?"(?P<opaque>[\x21\x23-\x7e\x80-\xff]*)"|(?P<bare>[^\s,"]+))?[ \t]*(?:,|\Z)')


def parse_if_match(value: str) -> list[object]:
    """The versions an `If-Match` header names: `ANY_VERSION` for `*`, else the `updatedAt` of each entity tag
    (or bare `updatedAt`) that holds one, and None for a well-formed tag that is no version of ours (`"abc"`:
    it matches nothing, 412). Raises `InvalidIfMatch` (400) for anything that is not RFC 9110's syntax: a bare
    word (`abc`), an unterminated quote, control characters, `*` among tags, or nothing at all: answering those
    412 "changed since you loaded it" would send the client looking for an edit that never happened."""
    text = value.strip(" \t")
    if text == "*":
        return [ANY_VERSION]
    versions: list[object] = []
    position = 0
    while position < len(text):
        element = _ELEMENT.match(text, position)
        if element is None or element.end() == position:
            raise _malformed_if_match()
        position = element.end()
        if element["bare"] is not None:
            version = _timestamp(element["bare"])
            if version is None:  # not an entity tag (unquoted) and not an updatedAt either
                raise _malformed_if_match()
            versions.append(version)
        elif element["opaque"] is not None:
            versions.append(_timestamp(element["opaque"]))
    if not versions:
        raise _malformed_if_match()
    return versions


def _timestamp(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _malformed_if_match() -> InvalidIfMatch:
    return InvalidIfMatch(
        "The If-Match header is malformed: send the ETag this chatbot was answered with (quoted, e.g."
        ' If-Match: "2025-01-31T12:00:00.123456Z"), its bare updatedAt, or * (any version).',
        details=[{"field": "If-Match", "message": "not an entity tag, an updatedAt or *", "type": "invalid_if_match"}],
    )


async def list_chatbots(
    session: AsyncSession, *, limit: int, after: tuple[dt.datetime, uuid.UUID] | None
) -> list[ChatbotSummary]:
    running = (
        select(func.count())
        .where(ConversationContext.chatbot_id == Chatbot.id, ConversationContext.is_active.is_(True))
        .scalar_subquery()
    )
    query = (
        select(Chatbot, func.jsonb_array_length(Chatbot.nodes), running)
        .order_by(Chatbot.created_at, Chatbot.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Chatbot.created_at, Chatbot.id) > tuple_(*after))
    rows = await session.execute(query)
    return [
        ChatbotSummary(
            id=c.id,
            name=c.name,
            description=c.description,
            is_active=c.is_active,
            status=c.status,
            node_count=count,
            published_at=c.published_at,
            running_conversations=active,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c, count, active in rows.all()
    ]


_JSON_COLUMNS = (
    ("nodes", "nodes"),
    ("edges", "edges"),
    ("metadata_", "metadata"),
    ("published_nodes", "publishedNodes"),
    ("published_edges", "publishedEdges"),
    ("published_metadata", "publishedMetadata"),
)


def too_deep(what: str) -> Unprocessable:
    return Unprocessable(
        f"The chatbot's {what} is nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects); "
        "replace it with a flatter one.",
        code="nested_too_deeply",
        details=[{"field": what, "message": f"nested more than {MAX_JSON_DEPTH} levels deep"}],
    )


def check_nesting(chatbot: Chatbot, columns: tuple[tuple[str, str], ...] = _JSON_COLUMNS) -> None:
    """Refuse (422) a chatbot holding JSON nested deeper than MAX_JSON_DEPTH, before anything is committed: such a
    row could be stored but not served, exported or duplicated again. Input is checked by the schemas already;
    this catches rows stored before that check existed (a draft about to be published, a row being edited)."""
    for attribute, what in columns:
        if json_depth_exceeds(getattr(chatbot, attribute)):
            raise too_deep(what)


def _publish(chatbot: Chatbot) -> ValidationReport:
    """Validate the draft; when it is valid, it becomes the published graph conversations run on."""
    check_nesting(chatbot, _JSON_COLUMNS[:2])
    report = validate_graph(chatbot.nodes, chatbot.edges, chatbot.metadata_)
    if not report.ok:
        raise Unprocessable(
            f"The flow has {len(report.errors)} problem(s); fix them to publish.",
            code="invalid_flow",
            details=[p.to_dict() for p in report.errors],
        )
    chatbot.published_nodes = chatbot.nodes
    chatbot.published_edges = chatbot.edges
    chatbot.published_metadata = chatbot.metadata_
    chatbot.published_at = dt.datetime.now(dt.UTC)
    chatbot.status = ChatbotStatus.ACTIVE
    return report


def _not_published() -> Unprocessable:
    # Conversations run the published graph: switched on without one, the bot would look live and never answer.
    return Unprocessable(
        "The chatbot has not been published yet: publish it (a valid graph) to switch it on.", code="not_published"
    )


async def create_chatbot(session: AsyncSession, data: ChatbotCreate) -> tuple[Chatbot, ValidationReport]:
    chatbot = Chatbot(
        name=data.name,
        description=data.description,
        nodes=data.nodes,
        edges=data.edges,
        is_active=data.is_active,
        status=data.status,
        metadata_=data.metadata,
    )
    report = (
        _publish(chatbot)
        if data.status is ChatbotStatus.ACTIVE
        else validate_graph(data.nodes, data.edges, data.metadata)
    )
    check_nesting(chatbot)
    session.add(chatbot)
    await session.commit()
    await session.refresh(chatbot)
    return chatbot, report


async def update_chatbot(
    session: AsyncSession, chatbot_id: uuid.UUID, data: ChatbotUpdate, *, if_match: str | None = None
) -> tuple[Chatbot, ValidationReport]:
    chatbot = await get_chatbot(session, chatbot_id, if_match=if_match)
    changes = data.model_dump(exclude_unset=True)  # nulls only where null is a value (ChatbotUpdate.not_nullable)
    switching_on = changes.get("is_active") is True and not chatbot.is_active
    if switching_on and chatbot.published_nodes is None and changes.get("status") != ChatbotStatus.ACTIVE:
        raise _not_published()
    for field, value in changes.items():
        setattr(chatbot, "metadata_" if field == "metadata" else field, value)
    if changes.get("status") == ChatbotStatus.ACTIVE:
        first = chatbot.published_nodes is None
        report = _publish(chatbot)
        if first and "is_active" not in changes:
            chatbot.is_active = True  # a first publish goes live, as POST …/publish does
    else:
        report = validate_graph(chatbot.nodes, chatbot.edges, chatbot.metadata_)
    check_nesting(chatbot)
    await session.commit()
    await session.refresh(chatbot)
    return chatbot, report


async def publish_chatbot(session: AsyncSession, chatbot_id: uuid.UUID, *, if_match: str | None = None) -> Chatbot:
    """Publish the draft. A first publish also switches the chatbot on (it goes live); after that, whether it is
    on stays the operator's choice."""
    chatbot = await get_chatbot(session, chatbot_id, if_match=if_match)
    first = chatbot.published_nodes is None
    _publish(chatbot)
    if first:
        chatbot.is_active = True
    check_nesting(chatbot)
    await session.commit()
    await session.refresh(chatbot)
    return chatbot


async def delete_chatbot(session: AsyncSession, chatbot_id: uuid.UUID) -> list[dict[str, Any]]:
    """Delete the chatbot, and with it (the seed's cascade) its conversations' contexts. Returns the
    `context:updated` payloads of those it was running, as they end (`chatbot_unavailable`): nothing would tell
    a bot panel that shows one otherwise, since no later turn can end a context that is gone."""
    chatbot = await get_chatbot(session, chatbot_id)
    running = (
        await session.execute(
            select(ConversationContext).where(
                ConversationContext.chatbot_id == chatbot_id, ConversationContext.is_active.is_(True)
            )
        )
    ).scalars()
    ended_at = dt.datetime.now(dt.UTC)
    ended = [
        events.context_payload(
            c.conversation_id,
            chatbot_id=chatbot_id,
            context_id=c.id,
            current_node_id=c.current_node_id,
            variables=c.variables,
            node_history=c.node_history,
            is_active=False,
            ended_reason="chatbot_unavailable",
            updated_at=ended_at,
        )
        for c in running
    ]
    await session.delete(chatbot)
    await session.commit()
    return ended


async def import_chatbot(
    session: AsyncSession, data: ChatbotExport, *, activate: bool
) -> tuple[Chatbot, ValidationReport]:
    """The new chatbot, and what its graph must fix before it can be published (a draft may hold problems)."""
    return await create_chatbot(
        session,
        ChatbotCreate(
            name=data.name,
            description=data.description,
            nodes=data.nodes,
            edges=data.edges,
            metadata=data.metadata,
            # A draft is switched off: it has no published graph to run, and the list should not show it live.
            is_active=activate,
            status=ChatbotStatus.ACTIVE if activate else ChatbotStatus.DRAFT,
        ),
    )


def export_chatbot(chatbot: Chatbot) -> dict[str, Any]:
    """The export file; 422 when the stored chatbot could not be imported again (e.g. nested too deeply)."""
    check_nesting(chatbot, _JSON_COLUMNS[:3])
    try:
        return ChatbotExport(
            name=chatbot.name,
            description=chatbot.description,
            nodes=chatbot.nodes,
            edges=chatbot.edges,
            metadata=chatbot.metadata_,
        ).model_dump(mode="json", by_alias=True)
    except (ValidationError, ValueError, RecursionError) as exc:
        raise Unprocessable(
            "The stored chatbot cannot be exported: it would not import again.", code="invalid_chatbot"
        ) from exc


async def duplicate_chatbot(session: AsyncSession, chatbot_id: uuid.UUID) -> Chatbot:
    original = await get_chatbot(session, chatbot_id)
    data = ChatbotExport.model_validate(export_chatbot(original))
    data.name = f"{original.name} (copy)"[:255]
    return (await import_chatbot(session, data, activate=False))[0]


async def chatbot_stats(session: AsyncSession, chatbot_id: uuid.UUID) -> dict[str, Any]:
    """Conversations started, completed, handed off, and visits and drop-offs per node, from nodeHistory."""
    await get_chatbot(session, chatbot_id)
    rows = await session.execute(
        select(
            ConversationContext.node_history,
            ConversationContext.current_node_id,
            ConversationContext.is_active,
            ConversationContext.engine_state["endedReason"].astext,
            ConversationContext.engine_state.has_key("handedOffAt"),
        ).where(ConversationContext.chatbot_id == chatbot_id)
    )
    snapshots = [
        ContextSnapshot(
            node_history=list(h or []),
            current_node_id=node,
            is_active=active,
            ended_reason=reason,
            taken_over=bool(taken_over),
        )
        for h, node, active, reason, taken_over in rows.all()
    ]
    return aggregate(snapshots).to_dict()


def _start_keywords(nodes: object) -> tuple[str | None, list[str]]:
    """The start node's id and trigger keywords as the engine compares them (flows/graph.py), from raw nodes."""
    if not isinstance(nodes, list):
        return None, []
    for node in nodes:
        if isinstance(node, dict) and node.get("type") == "start":
            data = node.get("data")
            raw = data.get("triggerKeywords") if isinstance(data, dict) else None
            ident = node.get("id") if isinstance(node.get("id"), str) else None
            if isinstance(raw, list):
                return ident, [w for w in (keyword_key(k) for k in raw if isinstance(k, str)) if w]
            return ident, []
    return None, []


async def keyword_conflicts(session: AsyncSession, chatbot: Chatbot) -> list[Problem]:
    """Warnings for start keywords of this draft that an older active chatbot also has: a customer who writes
    one gets that chatbot (the oldest match answers, flows/runner.py), never this one."""
    start, keywords = _start_keywords(chatbot.nodes)
    mine = set(keywords)
    if not mine:
        return []
    others = (
        await session.execute(
            select(Chatbot.name, Chatbot.published_nodes)
            .where(
                Chatbot.id != chatbot.id,
                Chatbot.is_active.is_(True),
                Chatbot.published_nodes.is_not(None),
                tuple_(Chatbot.created_at, Chatbot.id) < tuple_(chatbot.created_at, chatbot.id),
            )
            .order_by(Chatbot.created_at, Chatbot.id)
        )
    ).all()
    problems: list[Problem] = []
    for name, nodes in others:
        for keyword in sorted(mine & set(_start_keywords(nodes)[1])):
            problems.append(
                Problem(
                    "keyword_taken",
                    f"keyword {keyword!r} also starts chatbot {name!r}, which is older and active: customers who"
                    " write it get that chatbot, not this one",
                    node_id=start,
                    field="data.triggerKeywords",
                )
            )
            mine.discard(keyword)
    return problems


async def validation_report(session: AsyncSession, chatbot: Chatbot) -> ValidationReport:
    """The draft's own problems, and its keywords that an older active chatbot answers instead."""
    report = validate_graph(chatbot.nodes, chatbot.edges, chatbot.metadata_)
    report.warnings.extend(await keyword_conflicts(session, chatbot))
    return report
