from __future__ import annotations

import unicodedata
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.chatbots import service
from whatsapp_builder.chatbots.models import Chatbot
from whatsapp_builder.chatbots.schemas import (
    ChatbotCreate,
    ChatbotExport,
    ChatbotOut,
    ChatbotSaved,
    ChatbotSummary,
    ChatbotUpdate,
    FlowValidateRequest,
    TestRunOut,
    TestRunRequest,
    ValidationOut,
)
from whatsapp_builder.core.cursor import InvalidCursor, decode_time_id_cursor, encode_cursor
from whatsapp_builder.core.deps import ContextDep, SessionDep
from whatsapp_builder.core.errors import Unprocessable
from whatsapp_builder.core.routing import JsonRoute
from whatsapp_builder.core.schemas import Page
from whatsapp_builder.flows.graph import FlowGraphError
from whatsapp_builder.flows.http import SafeHttpPerformer
from whatsapp_builder.flows.schemas import NODE_SCHEMAS
from whatsapp_builder.flows.testrun import ReplayingHttpPerformer
from whatsapp_builder.flows.testrun import test_run as run_test
from whatsapp_builder.flows.types import ContactInfo
from whatsapp_builder.flows.validation import ValidationReport, validate_graph
from whatsapp_builder.realtime import events

router = APIRouter(prefix="/chatbots", tags=["chatbots"], route_class=JsonRoute)
flows_router = APIRouter(prefix="/flows", tags=["chatbots"], route_class=JsonRoute)


async def _saved(session: AsyncSession, chatbot: Chatbot, report: ValidationReport) -> ChatbotSaved:
    report.warnings.extend(await service.keyword_conflicts(session, chatbot))
    return ChatbotSaved(**ChatbotOut.model_validate(chatbot).model_dump(), validation=report.to_dict())


@flows_router.get("/node-types")
async def node_types() -> dict[str, Any]:
    """Every node type the engine runs, with the JSON Schema of its `data` (the builder's forms use them)."""
    return {"nodeTypes": NODE_SCHEMAS}


@flows_router.post("/validate", response_model=ValidationOut)
async def validate_flow(body: FlowValidateRequest) -> ValidationOut:
    """Validate a graph without saving it."""
    return ValidationOut.model_validate(validate_graph(body.nodes, body.edges, body.metadata).to_dict())


@router.get("", response_model=Page[ChatbotSummary])
async def list_chatbots(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Page[ChatbotSummary]:
    after = None
    if cursor is not None:
        stamp, last_id = decode_time_id_cursor(cursor, scope="chatbots")
        if stamp is None:
            raise InvalidCursor("The cursor is not valid; use nextCursor from a previous page.")
        after = (stamp, last_id)
    rows = await service.list_chatbots(session, limit=limit + 1, after=after)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.created_at, last.id, scope="chatbots")
    return Page[ChatbotSummary](items=rows[:limit], next_cursor=next_cursor)


@router.post("", response_model=ChatbotSaved, status_code=status.HTTP_201_CREATED)
async def create_chatbot(session: SessionDep, body: ChatbotCreate) -> ChatbotSaved:
    """Create a chatbot. A draft is saved with its problems listed; `status: active` publishes it (422 if invalid)."""
    return await _saved(session, *await service.create_chatbot(session, body))


@router.post("/import", response_model=ChatbotSaved, status_code=status.HTTP_201_CREATED)
async def import_chatbot(
    session: SessionDep, body: ChatbotExport, activate: Annotated[bool, Query()] = False
) -> ChatbotSaved:
    """Create a chatbot from an export file (as a draft, or published with `?activate=true`), with the
    `validation` of its graph: a draft is stored whatever problems it has, to be fixed before publishing."""
    return await _saved(session, *(await service.import_chatbot(session, body, activate=activate)))


@router.get("/{chatbot_id}", response_model=ChatbotOut)
async def get_chatbot(session: SessionDep, chatbot_id: uuid.UUID) -> JSONResponse:
    stored = await service.get_chatbot(session, chatbot_id)
    chatbot = ChatbotOut.model_validate(stored)
    try:
        # Serialized here, not by FastAPI, so that a row stored before nesting was limited answers 422, not 500.
        content = chatbot.model_dump(mode="json", by_alias=True)
    except (ValueError, RecursionError) as exc:
        raise service.too_deep("graph") from exc
    return JSONResponse(content, headers={"ETag": service.etag(stored)})


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag (or updatedAt) of the version you edited, or `*`: 412 `edit_conflict` if it was changed"
        " since, 400 `invalid_if_match` if the value is neither (not an entity tag: unquoted, unterminated)",
    ),
]


@router.patch("/{chatbot_id}", response_model=ChatbotSaved)
async def update_chatbot(
    session: SessionDep, chatbot_id: uuid.UUID, body: ChatbotUpdate, response: Response, if_match: IfMatch = None
) -> ChatbotSaved:
    """Save the draft (conversations keep running on the published graph); `status: active` publishes it. With
    `If-Match`, only if nobody saved it since that version (two tabs, two people)."""
    chatbot, report = await service.update_chatbot(session, chatbot_id, body, if_match=if_match)
    response.headers["ETag"] = service.etag(chatbot)
    return await _saved(session, chatbot, report)


@router.delete("/{chatbot_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_chatbot(context: ContextDep, session: SessionDep, chatbot_id: uuid.UUID) -> Response:
    ended = await service.delete_chatbot(session, chatbot_id)
    if ended and context.live():
        await context.publisher.publish([events.context_updated(c["conversationId"], c) for c in ended])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{chatbot_id}/publish", response_model=ChatbotOut)
async def publish_chatbot(
    session: SessionDep, chatbot_id: uuid.UUID, response: Response, if_match: IfMatch = None
) -> ChatbotOut:
    """Validate the draft and make it the graph new turns run on; 422 lists every problem by node or edge. With
    `If-Match`, only if the draft is still the version you saw."""
    chatbot = await service.publish_chatbot(session, chatbot_id, if_match=if_match)
    response.headers["ETag"] = service.etag(chatbot)
    return ChatbotOut.model_validate(chatbot)


@router.get("/{chatbot_id}/validate", response_model=ValidationOut)
async def validate_chatbot(session: SessionDep, chatbot_id: uuid.UUID) -> ValidationOut:
    chatbot = await service.get_chatbot(session, chatbot_id)
    return ValidationOut.model_validate((await service.validation_report(session, chatbot)).to_dict())


@router.post("/{chatbot_id}/duplicate", response_model=ChatbotOut, status_code=status.HTTP_201_CREATED)
async def duplicate_chatbot(session: SessionDep, chatbot_id: uuid.UUID) -> ChatbotOut:
    return ChatbotOut.model_validate(await service.duplicate_chatbot(session, chatbot_id))


@router.get("/{chatbot_id}/export")
async def export_chatbot(session: SessionDep, chatbot_id: uuid.UUID) -> JSONResponse:
    chatbot = await service.get_chatbot(session, chatbot_id)
    return JSONResponse(service.export_chatbot(chatbot), headers={"Content-Disposition": _attachment(chatbot.name)})


def _kept(ch: str) -> bool:
    return ch.isalnum() or ch in "-_" or unicodedata.category(ch).startswith("M")


def _attachment(name: str) -> str:
    """A download named after the chatbot: `filename` in ASCII for every client (headers are Latin-1 at most, and a
    name in Greek or Chinese could not be sent), and the name as written in `filename*` (RFC 6266)."""
    # Letters, digits and their marks (the vowel signs of Devanagari, say, are marks, not letters).
    written = "".join(ch if _kept(ch) else "-" for ch in name)[:60].strip("-") or "chatbot"
    # Café → Cafe: accents taken off where a letter has an ASCII base, other scripts left out.
    decomposed = unicodedata.normalize("NFKD", written)
    ascii_name = "".join(ch for ch in decomposed if ch.isascii()).strip("-") or "chatbot"
    header = f'attachment; filename="{ascii_name}.json"'
    if written != ascii_name:
        header += f"; filename*=UTF-8''{quote(written + '.json', safe='')}"
    return header


@router.post("/{chatbot_id}/test-run", response_model=TestRunOut)
async def test_run(session: SessionDep, context: ContextDep, chatbot_id: uuid.UUID, body: TestRunRequest) -> TestRunOut:
    """Run the draft (or the published graph) on the given inputs: no WhatsApp, no real conversation touched."""
    chatbot = await service.get_chatbot(session, chatbot_id)
    nodes, edges, metadata = (
        (chatbot.published_nodes, chatbot.published_edges, chatbot.published_metadata)
        if body.published
        else (chatbot.nodes, chatbot.edges, chatbot.metadata_)
    )
    if nodes is None:
        raise Unprocessable("The chatbot has not been published yet.", code="not_published")
    from whatsapp_builder.flows.runner import engine_settings

    http = ReplayingHttpPerformer(
        SafeHttpPerformer(context.http, allow_private=context.settings.flow_http_allow_private), body.http_replay
    )
    try:
        steps = await run_test(
            nodes,
            edges,
            list(body.inputs),
            contact=ContactInfo(name=body.contact_name, phone=body.contact_phone),
            settings=engine_settings(context, metadata),
            http=http,
        )
    except FlowGraphError as exc:
        raise Unprocessable(
            "The flow is not valid; fix it before a test run.",
            code="invalid_flow",
            details=[p.to_dict() for p in exc.report.errors],
        ) from exc
    return TestRunOut(steps=[step.to_dict() for step in steps], http_calls=http.calls)


@router.get("/{chatbot_id}/stats")
async def chatbot_stats(session: SessionDep, chatbot_id: uuid.UUID) -> dict[str, Any]:
    """Conversations started, completed, handed off and active; visits and drop-offs per node."""
    return await service.chatbot_stats(session, chatbot_id)
