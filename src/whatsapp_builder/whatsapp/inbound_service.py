"""One webhook delivery: stored, flow jobs deferred, committed; then the live inbox is told."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.jobs.queue import FLOWS_QUEUE, JobSpec, raw_connection
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.ingest import IngestResult, ingest
from whatsapp_builder.whatsapp.parser import WebhookBatch

PROCESS_INBOUND = "process_inbound"


def flow_lock(conversation_id: object) -> str:
    return f"flow:{conversation_id}"


async def store_delivery(context: AppContext, batch: WebhookBatch) -> IngestResult:
    async with context.sessions() as session:
        result = await ingest(await raw_connection(session), batch, context.ids)
        await context.jobs.defer(
            session,
            [
                JobSpec(
                    PROCESS_INBOUND,
                    FLOWS_QUEUE,
                    {"conversation_id": str(conversation_id), "message_ids": [str(m) for m in message_ids]},
                    lock=flow_lock(conversation_id),
                )
                for conversation_id, message_ids in result.new_by_conversation.items()
            ],
        )
        snapshots = await conversation_snapshots(session, result.new_by_conversation)
        await session.commit()
    published: list[Any] = [events.message_created(m) for m in result.new_messages]
    published += [events.conversation_updated(c) for c in snapshots]
    published += [
        events.message_status(s["id"], s["conversationId"], s["status"], s["whatsappMessageId"], s["error"])
        for s in result.status_changes
    ]
    if published:
        await context.publisher.publish(published)
    for conversation_id in result.new_by_conversation:
        context.inline.submit(functools.partial(handle_now, context, conversation_id))
    return result


async def handle_now(context: AppContext, conversation_id: uuid.UUID) -> None:
    """The fast path for one conversation: its flow step, then its replies' delivery."""
    from whatsapp_builder.flows.runner import process_inbound
    from whatsapp_builder.whatsapp.delivery import deliver_now

    if await process_inbound(context, conversation_id, [], claim=True):
        await deliver_now(context, conversation_id)
