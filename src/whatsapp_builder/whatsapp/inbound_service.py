"""Webhook deliveries: stored, flow jobs deferred, committed; then the live inbox is told.

Deliveries that arrive while one is being written share the next transaction (core/batching.py): each POST is
still answered only after what it carried is committed, and a redelivery stores nothing twice.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.batching import GroupCommit
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.jobs.queue import FLOWS_QUEUE, JobSpec
from whatsapp_builder.logging import get_logger
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.delivery import learn_bsuids_from_statuses
from whatsapp_builder.whatsapp.ingest import (
    IngestResult,
    ingest,
    ingestible_ids,
    log_not_stored,
    move_statuses,
    reduce_batch_statuses,
    settle_missing_statuses,
)
from whatsapp_builder.whatsapp.parser import WebhookBatch

PROCESS_INBOUND = "process_inbound"
DEADLOCK_RETRIES = 3

log = get_logger(__name__)


@dataclass(frozen=True)
class StoredDelivery:
    """What one POST's own items changed: new messages, redelivered ones, statuses that moved."""

    messages: int
    duplicates: int
    statuses: int


def database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or is too busy: no item of a batch is to blame."""
    if isinstance(exc, OperationalError | PoolTimeout | OSError | psycopg.OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def receive_delivery(context: AppContext, batch: WebhookBatch) -> StoredDelivery:
    """Store one POST's events, sharing a transaction with the POSTs that arrive alongside it."""
    batcher = context.batcher(
        "webhooks",
        lambda: GroupCommit(
            functools.partial(store_deliveries, context),
            max_batch=context.settings.webhook_group_max,
            # One writer: deliveries commit in the order they arrived, so a customer's messages that came in
            # separate POSTs get ids (the tie-break within a WhatsApp timestamp's second) in that order.
            max_in_flight=1,
            isolate=lambda exc: not database_unavailable(exc),
        ),
    )
    return await batcher.submit(batch)


async def store_deliveries(context: AppContext, batches: Sequence[WebhookBatch]) -> list[StoredDelivery]:
    """Several POSTs in one transaction; each gets the counts of its own items."""
    merged = WebhookBatch(
        messages=[m for b in batches for m in b.messages],
        statuses=[s for b in batches for s in b.statuses],
        is_whatsapp_payload=True,
    )
    reconnected = False
    for attempt in range(DEADLOCK_RETRIES):
        try:
            result = await store_delivery(context, merged)
            break
        except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
            if attempt + 1 == DEADLOCK_RETRIES:
                raise
            log.info("webhook batch met a deadlock; writing it again", attempt=attempt + 1)
        except psycopg.OperationalError as exc:
            # After a database restart or failover, the pool still holds connections to the server that went
            # away, and the first transaction on each fails: check them all (broken ones are replaced), and write
            # the batch once more (storing is idempotent: a commit that did happen stores nothing twice).
            if reconnected:
                raise
            reconnected = True
            log.info("webhook batch lost its database connection; writing it again", error=str(exc))
            await context.hot_pool.check()
    if result.new_messages:
        context.statistics.grew(len(result.new_messages))
    await learn_bsuids_from_statuses(context, merged.statuses)
    new_wamids = {m["whatsappMessageId"] for m in result.new_messages}
    moved = {c["whatsappMessageId"] for c in result.status_changes}
    stored: list[StoredDelivery] = []
    for batch in batches:
        candidates = ingestible_ids(batch)
        mine = 0
        for wamid in candidates:  # one id twice in a POST: stored once, the second copy is a duplicate
            if wamid in new_wamids:
                new_wamids.discard(wamid)
                mine += 1
        status_ids = {s.wa_message_id for s in batch.statuses} & moved
        moved.difference_update(status_ids)
        stored.append(StoredDelivery(mine, len(candidates) - mine, len(status_ids)))
    return stored


def flow_lock(conversation_id: object) -> str:
    return f"flow:{conversation_id}"


async def _store_statuses(context: AppContext, batch: WebhookBatch) -> IngestResult:
    """A delivery of statuses only (most of them): one autocommitted statement moves those of stored messages;
    only ids not stored yet need a transaction (see ingest.settle_missing_statuses)."""
    result = IngestResult()
    reduced = reduce_batch_statuses(batch.statuses)
    if not reduced:
        return result  # nothing storable (errors only, unknown statuses): no connection needed
    async with context.autocommit() as conn:
        missing = await move_statuses(conn, reduced, result)
    if missing:
        async with context.transaction() as conn:
            await settle_missing_statuses(conn, missing, reduced, result)
    if result.status_changes and context.live():
        await context.publisher.publish(_status_events(result))
    return result


def _status_events(result: IngestResult) -> list[Any]:
    return [
        events.message_status(s["id"], s["conversationId"], s["status"], s["whatsappMessageId"], s["error"])
        for s in result.status_changes
    ]


async def store_delivery(context: AppContext, batch: WebhookBatch) -> IngestResult:
    from whatsapp_builder.whatsapp import fast_path

    if not ingestible_ids(batch):
        log_not_stored(batch.messages)  # none can be stored: say why, as ingest does when some can
        return await _store_statuses(context, batch)
    # Pipeline mode: statements whose results are not read (upserts, the flow jobs) go out without waiting for
    # their answers, so a delivery of new customers makes half the round trips.
    config = await context.active_config.get()
    connected_number = config.phone_number_id if config is not None else None
    async with context.transaction() as conn, conn.pipeline():
        result = await ingest(conn, batch, context.ids, connected_number)
        await context.jobs.defer(
            conn,
            [
                JobSpec(
                    PROCESS_INBOUND,
                    FLOWS_QUEUE,
                    {"conversation_id": str(conversation_id), "message_ids": [str(m) for m in message_ids]},
                    lock=flow_lock(conversation_id),
                )
                for conversation_id, message_ids in result.flow_inputs.items()
            ],
        )
        live = context.live()
        changed = (
            set(result.new_by_conversation) | set(result.merged_conversations.values()) | result.relinked_conversations
        )
        snapshots = await conversation_snapshots(conn, changed) if live else []
    published: list[Any] = []
    if live:
        published += [events.conversation_deleted(gone, into) for gone, into in result.merged_conversations.items()]
        published += [events.message_created(m) for m in result.new_messages]
        published += [events.conversation_updated(c) for c in snapshots]
        published += _status_events(result)
    if published:
        await context.publisher.publish(published)
    for conversation_id in result.flow_inputs:
        context.inline.submit(functools.partial(fast_path.handle_now, context, conversation_id))
    return result
