from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from whatsapp_builder.conversations import dashboard, outreach, sending, service
from whatsapp_builder.conversations.schemas import (
    ContextOut,
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    HandoffUpdate,
    MessageOut,
    SendMessage,
)
from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.cursor import InvalidCursor, decode_time_id_cursor, encode_cursor
from whatsapp_builder.core.deps import ContextDep, SessionDep
from whatsapp_builder.core.errors import NotFound, Unprocessable, documented
from whatsapp_builder.core.routing import JsonRoute
from whatsapp_builder.core.schemas import Page, storable_text
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp import media

router = APIRouter(prefix="/conversations", tags=["conversations"], route_class=JsonRoute)

Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("", response_model=Page[ConversationOut])
async def list_conversations(
    session: SessionDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Only customers whose name, username or phone contains this, or whose whole WhatsApp user id (BSUID) it is",
        ),
        AfterValidator(storable_text),
    ] = None,
    unread: Annotated[bool, Query(description="Only conversations with a customer message no one has read")] = False,
    handed_off: Annotated[
        bool, Query(alias="handedOff", description="Only conversations handed to a person (isHandedOff)")
    ] = False,
) -> Page[ConversationOut]:
    after = decode_time_id_cursor(cursor, scope="conversations") if cursor else None
    rows = await service.list_conversations(
        session,
        limit=limit + 1,
        after=after,
        search=q.strip() if q else None,
        unread=unread,
        handed_off=handed_off,
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(service.activity_time(last), last.id, scope="conversations")
    return Page[ConversationOut](
        items=[ConversationOut.model_validate(c) for c in rows[:limit]], next_cursor=next_cursor
    )


@router.post(
    "",
    response_model=ConversationDetail,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": ConversationDetail,
            "description": "The WhatsApp number already has a conversation with this customer: that one",
        },
        409: documented("No WhatsApp number is connected (`not_configured`)"),
    },
)
async def create_conversation(
    context: ContextDep, session: SessionDep, body: ConversationCreate, response: Response
) -> ConversationDetail:
    """With `participantIds`: a conversation between these users. With `customerPhoneNumber`: the connected
    WhatsApp number's conversation with that customer, made (201) or found (200), to write first; until the
    customer answers, its 24-hour window is closed and only templates can be sent."""
    if body.customer_phone_number is not None:
        opened = await outreach.open_with_customer(context, body.customer_phone_number, body.customer_name)
        if not opened.created:
            response.status_code = status.HTTP_200_OK
        return ConversationDetail.model_validate(await service.get_conversation(session, opened.conversation_id))
    assert body.participant_ids is not None
    created = await service.create_conversation(session, body.participant_ids)
    if context.live():
        # Committed: the inbox hears of it as of one opened by an operator writing first.
        snapshots = await conversation_snapshots(session, [created.id])
        await context.publisher.publish([events.conversation_updated(s) for s in snapshots])
    return ConversationDetail.model_validate(created)


@router.get("/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(session: SessionDep, conversation_id: uuid.UUID) -> ConversationDetail:
    return ConversationDetail.model_validate(await service.get_conversation(session, conversation_id))


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(context: ContextDep, session: SessionDep, conversation_id: uuid.UUID) -> Response:
    await service.delete_conversation(session, conversation_id)
    await context.publisher.publish([events.conversation_deleted(conversation_id, None)])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=Page[MessageOut])
async def list_messages(
    session: SessionDep,
    conversation_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page: messages older than it")] = None,
    before: Annotated[str | None, Query(description="The same as `cursor` (its older name)")] = None,
    after: Annotated[
        str | None,
        Query(
            description="Catching up: the id of the last message you received; returns the messages stored"
            " after it, in the order they were stored (continue with ?after=<nextCursor>)"
        ),
    ] = None,
) -> Page[MessageOut]:
    if cursor and before and cursor != before:
        raise Unprocessable(
            "Give the page's cursor once: ?cursor= (or ?before=, its older name).",
            details=[{"field": "before", "message": "differs from cursor", "type": "conflicting_cursor"}],
        )
    if after is not None:
        if cursor or before:
            raise Unprocessable(
                "?after= reads forward from a message, ?cursor= backward: give one of them.",
                details=[{"field": "after", "message": "given with cursor", "type": "conflicting_cursor"}],
            )
        return await _messages_after(session, conversation_id, after, limit)
    position = cursor or before
    before_key = decode_time_id_cursor(position, scope=f"messages:{conversation_id}") if position else None
    rows = await service.list_messages(session, conversation_id, limit=limit + 1, before=before_key)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.timestamp, last.id, scope=f"messages:{conversation_id}")
    return Page[MessageOut](items=[MessageOut.model_validate(m) for m in rows[:limit]], next_cursor=next_cursor)


async def _messages_after(
    session: AsyncSession, conversation_id: uuid.UUID, after: str, limit: int
) -> Page[MessageOut]:
    unknown = InvalidCursor(
        "?after= takes the id of a message of this conversation (the newest one you have); this is none."
        " If the conversation was merged into another, load that one."
    )
    try:
        after_id = uuid.UUID(after)
    except ValueError:
        after_id = uuid.UUID(int=0)  # no message's id: a 400, once the conversation is known to exist (else 404)
    rows = await service.list_messages_after(session, conversation_id, after=after_id, limit=limit + 1)
    if rows is None:
        raise unknown
    more = len(rows) > limit
    items = [MessageOut.model_validate(m) for m in rows[:limit]]
    return Page[MessageOut](items=items, next_cursor=str(rows[limit - 1].id) if more else None)


@router.post(
    "/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        409: documented(
            "The 24-hour window is closed and the message is not a template (`window_closed`), no WhatsApp number is"
            " connected (`not_configured`), or the conversation is on another number (`number_not_connected`)"
        ),
        422: documented("The message breaks WhatsApp's limits (the field is named)"),
    },
)
async def send_message(context: ContextDep, conversation_id: uuid.UUID, body: SendMessage) -> MessageOut:
    """Queue a message to the customer; it is `pending` until WhatsApp accepts it (watch `message:status`)."""
    queued = await sending.send_as_operator(context, conversation_id, body.model_dump())
    return MessageOut.model_validate(queued)


@router.post("/{conversation_id}/handoff", response_model=ConversationOut)
async def set_handoff(context: ContextDep, conversation_id: uuid.UUID, body: HandoffUpdate) -> ConversationOut:
    """`{"handedOff": true}` takes over from the bot (it stays silent); `false` hands back to it."""
    return ConversationOut.model_validate(await sending.set_handoff(context, conversation_id, body.handed_off))


@router.post("/{conversation_id}/read", response_model=ConversationOut)
async def mark_read(context: ContextDep, conversation_id: uuid.UUID) -> ConversationOut:
    """The operator has read the conversation: its customer messages become `read` (unreadCount 0) and WhatsApp
    shows the customer blue ticks. Safe to repeat."""
    return ConversationOut.model_validate(await sending.mark_conversation_read(context, conversation_id))


@router.get(
    "/{conversation_id}/context",
    response_model=ContextOut,
    responses={404: documented("No such conversation, or no chatbot has run in it (`not_found`)")},
)
async def get_context(session: SessionDep, conversation_id: uuid.UUID) -> ContextOut:
    """The bot's context here: the active one (current node, variables), else the last one that ended
    (`isActive` false, with `endedReason`); 404 when no bot ever ran in this conversation."""
    await service.ensure_conversation_exists(session, conversation_id)
    context = await service.latest_context(session, conversation_id)
    if context is None:
        raise NotFound("No chatbot has run in this conversation.")
    return ContextOut.model_validate(context)


@router.get(
    "/{conversation_id}/messages/{message_id}/media",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The media's bytes, with its type (`image/jpeg`, `audio/ogg`, ...)",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("image/*", "video/*", "audio/*", "application/*", "text/*")
            },
        },
        404: documented(
            "No such message in this conversation; it has no WhatsApp media id (`no_media`: one sent by link is at"
            " its `content.url`); WhatsApp no longer has it (`media_gone`, after 30 days); or no WhatsApp config"
        ),
        502: documented("WhatsApp did not give it (`media_unavailable`: an expired token, an outage)"),
    },
)
async def get_media(
    context: ContextDep, session: SessionDep, conversation_id: uuid.UUID, message_id: uuid.UUID
) -> StreamingResponse:
    """A media message's photo, voice note, video, document or sticker, fetched from WhatsApp with the active
    config's token (the browser cannot: WhatsApp's download URLs need it). Images, audio and video of the types
    WhatsApp sends are served inline; anything else as a download."""
    media_id, content = await media.media_id_of(session, conversation_id, message_id)
    await session.close()  # no database connection held while the bytes stream
    download = await media.open_media(context, media_id, content)
    disposition = "inline" if download.inline else "attachment"
    if download.filename:
        disposition += f"; filename*=UTF-8''{quote(download.filename[:200], safe='')}"
    headers = {
        "Content-Disposition": disposition,
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        # A customer's file is never a page of this app, whatever it holds.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if download.length is not None:
        headers["Content-Length"] = str(download.length)
    return StreamingResponse(
        download.chunks(),
        media_type=download.content_type,
        headers=headers,
        background=BackgroundTask(download.close),
    )


stats_router = APIRouter(prefix="/stats", tags=["stats"], route_class=JsonRoute)


@stats_router.get("/daily")
async def daily_stats(
    session: SessionDep, days: Annotated[int, Query(ge=1, le=366, description="How many days, ending today")] = 14
) -> dict[str, Any]:
    """Per day (UTC): conversations started, completed and handed off; messages in and out. Plus delivery
    failures by WhatsApp error code over the period."""
    return await dashboard.daily_overview(session, days)


@stats_router.get("/batching")
async def batching_stats(context: ContextDep) -> dict[str, Any]:
    """This process's group commits since it started: per stage (`webhooks`, `flows`, `deliveries`,
    `worker-flows`), how many transactions were written, how many items they carried and how long they took
    (`seconds`, summed). Items per batch above 1 means concurrent work shared transactions (see
    docs/architecture.md)."""
    return {
        name: {
            "batches": batcher.batches_written,
            "items": batcher.items_written,
            "seconds": round(batcher.seconds_writing, 3),
            "itemsPerBatch": round(batcher.items_written / batcher.batches_written, 2)
            if batcher.batches_written
            else None,
        }
        for name, batcher in context.batchers.items()
    }
