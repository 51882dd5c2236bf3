"""The in-process fast path of delivery: the waiting send jobs of many conversations in one transaction.

Each conversation's jobs (its replies, then its read receipt) are taken in queue order under row locks, as a
worker takes them, and done one after another; different conversations are sent concurrently. The outcomes,
the messages' new statuses and the jobs' removal are written together with a few set-based statements. A
temporary Graph API failure stops that conversation's chain and leaves the rest of its jobs to the workers and
their backoff; a crash before the commit leaves every job to the workers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.conversations.window import is_window_open
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.logging import get_logger
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.config_service import ActiveConfig
from whatsapp_builder.whatsapp.delivery import (
    REACTED_WAMID_SQL,
    WINDOW_CLOSED_ERROR,
    CannotSend,
    clear_config_error,
    error_dict,
    flag_config,
    graph_client_for,
    graph_payload,
    learn_bsuids,
    number_not_connected_error,
)
from whatsapp_builder.whatsapp.graph_client import GraphApiError, backoff_delay
from whatsapp_builder.whatsapp.ingest import BSUID_LIMIT, storable
from whatsapp_builder.whatsapp.outbox import DELIVER_MESSAGE, MARK_READ, send_lock
from whatsapp_builder.whatsapp.rate_limit import take_available_send_slots
from whatsapp_builder.whatsapp.statuses import lock_wamids

log = get_logger(__name__)

# Each conversation's queue, with what its send jobs need of their messages, and the jobs that could run now
# row-locked (those someone else holds are skipped): one round trip. A job locked here but not done (one behind
# a job someone else holds: see _take_jobs) stays queued; our lock only makes its next taker wait for our commit.
_QUEUES_AND_TAKE = (
    "WITH q AS MATERIALIZED ("
    "SELECT j.id AS job_id, j.lock, j.status::text AS job_status, j.task_name, j.args->>'message_id',"
    " j.scheduled_at, j.attempts,"
    ' m.id, m."conversationId", m.type::text, m.content, m.status::text, m.direction::text,'
    ' m."whatsappMessageId", m."timestamp", c."lastCustomerMessageAt", u."phoneNumber", u.bsuid,'
    ' c."whatsappPhoneNumberId",'
    f" {REACTED_WAMID_SQL}"
    " FROM procrastinate_jobs j"
    " LEFT JOIN messages m ON m.id = (j.args->>'message_id')::uuid"
    ' LEFT JOIN conversations c ON c.id = m."conversationId"'
    ' LEFT JOIN users u ON u.id = c."customerId"'
    " WHERE j.lock = ANY(%s) AND j.status IN ('todo', 'doing')),"
    " taken AS (SELECT j.id FROM procrastinate_jobs j WHERE j.id IN (SELECT q.job_id FROM q"
    " WHERE q.job_status = 'todo' AND q.task_name = ANY(%s)"
    " AND (q.scheduled_at IS NULL OR q.scheduled_at <= now() OR q.attempts = 0))"
    " AND j.status = 'todo' FOR UPDATE OF j SKIP LOCKED)"
    " SELECT q.*, q.job_id IN (SELECT id FROM taken) FROM q ORDER BY q.job_id"
)
# Every outcome of a batch in one statement: sends recorded (only while still pending), customers' messages read,
# early statuses taken from the backlog (applied after), and the jobs done deleted.
_RECORD = (
    "WITH sends AS (UPDATE messages m SET status = x.status::message_status,"
    ' "whatsappMessageId" = coalesce(x.wamid, m."whatsappMessageId"), error = x.error, "updatedAt" = now()'
    " FROM (SELECT (r->>0)::uuid, r->>1, r->>2, nullif(r->3, 'null') FROM jsonb_array_elements(%s::jsonb) AS j(r))"
    " AS x(id, status, wamid, error) WHERE m.id = x.id AND m.status = 'pending'"
    ' RETURNING m.id, m."conversationId", m.status::text AS status, m."whatsappMessageId" AS wamid, m.error),'
    " reads AS (UPDATE messages m SET status = 'read', \"updatedAt\" = now()"
    " FROM unnest(%s::uuid[], %s::timestamptz[]) AS x(conversation, upto)"
    ' WHERE m."conversationId" = x.conversation AND m.direction = \'inbound\' AND m."timestamp" <= x.upto'
    ' AND m.status <> \'read\' RETURNING m.id, m."conversationId", m."whatsappMessageId" AS wamid),'
    ' early AS (DELETE FROM whatsapp_status_backlog WHERE "whatsappMessageId" = ANY(%s)'
    ' RETURNING "whatsappMessageId" AS wamid, status::text AS status, error),'
    " done AS (DELETE FROM procrastinate_jobs WHERE id = ANY(%s))"
    " SELECT 'send', id, \"conversationId\", status, wamid, error FROM sends"
    " UNION ALL SELECT 'read', id, \"conversationId\", 'read', wamid, NULL::jsonb FROM reads"
    " UNION ALL SELECT 'early', NULL::uuid, NULL::uuid, status, wamid, error FROM early"
)
_TOUCH = 'UPDATE conversations SET "updatedAt" = now() WHERE id = ANY(%s)'
_POSTPONE = (
    "UPDATE procrastinate_jobs j SET attempts = j.attempts + 1,"
    " scheduled_at = now() + make_interval(secs => (r->>1)::float8)"
    " FROM jsonb_array_elements(%s::jsonb) AS x(r) WHERE j.id = (r->>0)::bigint AND j.status = 'todo'"
)
_APPLY_EARLY = (
    "UPDATE messages SET status = %s::message_status, error = coalesce(%s, error),"
    ' "updatedAt" = now() WHERE "whatsappMessageId" = %s'
    " AND status_rank(%s) > status_rank(status::text)"
    ' RETURNING id, "conversationId", status::text, "whatsappMessageId", error'
)


@dataclass
class _Job:
    id: int
    conversation_id: uuid.UUID
    task: str
    message_id: uuid.UUID


@dataclass
class _Outcomes:
    done_jobs: list[int] = field(default_factory=list)
    sends: list[tuple[uuid.UUID, str, str | None, dict[str, Any] | None]] = field(default_factory=list)
    reads: dict[uuid.UUID, dt.datetime] = field(default_factory=dict)
    config_errors: list[dict[str, Any]] = field(default_factory=list)
    # Jobs that met a temporary failure: (job id, seconds to wait), counted as their first attempt.
    postponed: list[tuple[int, float]] = field(default_factory=list)
    # Customers known by phone number only, with the BSUID WhatsApp's answer to a send gave: (conversation, BSUID).
    learned: list[tuple[uuid.UUID, str]] = field(default_factory=list)


async def _take_jobs(
    conn: AsyncConnection[Any], conversation_ids: Sequence[uuid.UUID], messages: dict[uuid.UUID, tuple[Any, ...]]
) -> dict[uuid.UUID, list[_Job]]:
    """Each conversation's ready jobs from the head of its queue, row-locked; none where someone else is at it.
    Fills `messages` with the jobs' messages."""
    owners = {send_lock(c): c for c in conversation_ids}
    rows = await (await conn.execute(_QUEUES_AND_TAKE, (list(owners), [DELIVER_MESSAGE, MARK_READ]))).fetchall()
    now = dt.datetime.now(dt.UTC)
    queues: dict[uuid.UUID, list[_Job]] = {}
    blocked: set[uuid.UUID] = set()
    taken: set[int] = set()
    for job_id, lock, status, task, message_id, scheduled_at, attempts, *message, locked in rows:
        if message[0] is not None:
            messages[message[0]] = tuple(message)
        if locked:
            taken.add(job_id)
        conversation_id = owners[lock]
        if conversation_id in blocked:
            continue
        # A fresh job deferred with the fast path's grace is ready now; a retry waits for its backoff.
        ready = status == "todo" and (scheduled_at is None or scheduled_at <= now or attempts == 0)
        if not ready or task not in (DELIVER_MESSAGE, MARK_READ):
            blocked.add(conversation_id)  # a worker's job, a retry waiting for its backoff: keep the order
            continue
        queues.setdefault(conversation_id, []).append(_Job(job_id, conversation_id, task, uuid.UUID(str(message_id))))
    held: dict[uuid.UUID, list[_Job]] = {}
    for conversation_id, jobs in queues.items():
        prefix = []
        for job in jobs:
            if job.id not in taken:
                break  # someone else holds it: what follows must wait for it
            prefix.append(job)
        if prefix:
            held[conversation_id] = prefix
    return held


async def _send_chain(
    context: AppContext,
    config: ActiveConfig | None,
    jobs: list[_Job],
    messages: dict[uuid.UUID, tuple[Any, ...]],
    outcomes: _Outcomes,
) -> None:
    """One conversation's jobs, in order. Stops at a temporary failure (that job and the rest stay queued), and
    at anything unexpected, which must not cost the other conversations' outcomes."""
    for job in jobs:
        try:
            if not await _do_job(context, config, job, messages.get(job.message_id), outcomes):
                return
        except Exception:
            log.exception("fast delivery stopped; the workers will take this job", job_id=job.id, task=job.task)
            return


async def _do_job(
    context: AppContext, config: ActiveConfig | None, job: _Job, row: tuple[Any, ...] | None, outcomes: _Outcomes
) -> bool:
    """One job; returns whether the conversation's next job may follow."""
    if job.task == MARK_READ:
        if row is not None and row[5] == "inbound" and row[6] is not None:
            if config is not None and row[11] in (None, config.phone_number_id):
                try:
                    await graph_client_for(context, config.graph_api_url).mark_as_read(
                        config.phone_number_id, config.access_token, row[6]
                    )
                except GraphApiError as exc:
                    log.info("mark as read failed", message_id=str(job.message_id), code=exc.code)
            outcomes.reads[job.conversation_id] = max(row[7], outcomes.reads.get(job.conversation_id, row[7]))
        outcomes.done_jobs.append(job.id)
        return True
    if row is None or row[4] != "pending":
        outcomes.done_jobs.append(job.id)  # deleted, or already done
        return True
    failure = await _send(context, config, job, row, outcomes)
    if failure is _RETRY_LATER:
        return False
    if failure is not None:
        outcomes.sends.append((job.message_id, "failed", None, failure))
    outcomes.done_jobs.append(job.id)
    return True


_RETRY_LATER: dict[str, Any] = {}  # a sentinel, compared by identity: leave the job to the workers' backoff


async def _send(
    context: AppContext, config: ActiveConfig | None, job: _Job, row: tuple[Any, ...], outcomes: _Outcomes
) -> dict[str, Any] | None:
    """Send one pending message: None when sent (recorded in `outcomes`), else why it failed, or `_RETRY_LATER`."""
    _, _, message_type, content, _, _, _, _, last_customer_at, phone, bsuid, number, reacted_wamid = row
    if phone is None and bsuid is None:
        return {"code": "no_recipient", "title": "The conversation has no WhatsApp customer", "source": "local"}
    if message_type != "template" and not is_window_open(last_customer_at):
        return WINDOW_CLOSED_ERROR
    if config is None:
        return {"code": "not_configured", "title": "No active WhatsApp config", "source": "local"}
    if number not in (None, config.phone_number_id):
        return number_not_connected_error(number)
    try:
        payload = graph_payload(message_type, content, phone=phone, bsuid=bsuid, reacted_wamid=reacted_wamid)
    except CannotSend as exc:
        return exc.error
    try:
        sent = await graph_client_for(context, config.graph_api_url).send(
            config.phone_number_id, config.access_token, payload
        )
    except GraphApiError as exc:
        error = error_dict(exc)
        if exc.config_problem:
            outcomes.config_errors.append(error)
        if exc.retryable:
            delay = backoff_delay(1, exc, base=context.settings.send_retry_base_seconds)
            outcomes.postponed.append((job.id, delay))
            log.info("send will be retried by a worker", message_id=str(job.message_id), code=exc.code, after=delay)
            return _RETRY_LATER
        log.warning("send failed", message_id=str(job.message_id), code=exc.code, title=exc.title)
        return error
    outcomes.sends.append((job.message_id, "sent", sent.wamid, None))
    if bsuid is None and sent.recipient_user_id is not None and len(sent.recipient_user_id) <= BSUID_LIMIT:
        outcomes.learned.append((job.conversation_id, storable(sent.recipient_user_id)))
    return None


async def _record(conn: AsyncConnection[Any], outcomes: _Outcomes, published: list[Any] | None) -> set[uuid.UUID]:
    """Write the outcomes; returns the conversations whose unread count changed. Their events go to `published`
    (none are built without it: no one would hear them)."""
    wamids = sorted({w for _, _, w, _ in outcomes.sends if w is not None})
    if wamids:
        # Serialises with a status webhook for the same ids (whatsapp/ingest.py): whichever commits second
        # sees the other's row, so an early status can never be stranded in the backlog.
        await lock_wamids(conn, wamids)
    if outcomes.postponed:
        # A first attempt that failed: neither the fast path nor a lane takes it again before its backoff; a
        # worker retries it then, with the queue's own backoff from there on.
        await conn.execute(_POSTPONE, (json_rows(outcomes.postponed),))
    conversations = sorted(outcomes.reads)
    rows = await (
        await conn.execute(
            _RECORD,
            (
                json_rows((m, s, w, e or None) for m, s, w, e in outcomes.sends),
                conversations,
                [outcomes.reads[c] for c in conversations],
                wamids,
                outcomes.done_jobs,
            ),
        )
    ).fetchall()
    changed: dict[Any, tuple[Any, ...]] = {}
    unread_changed: set[uuid.UUID] = set()
    for kind, message_id, conversation_id, status, wamid, error in rows:
        if kind == "send":
            changed[message_id] = (message_id, conversation_id, status, wamid, error)
        elif kind == "read":
            if published is not None:
                published.append(events.message_status(str(message_id), str(conversation_id), "read", wamid, None))
            unread_changed.add(conversation_id)
        else:  # a status that arrived before we stored the id: apply it now
            moved = await (
                await conn.execute(_APPLY_EARLY, (status, Jsonb(error) if error else None, wamid, status))
            ).fetchone()
            if moved is not None:
                changed[moved[0]] = tuple(moved)
    if published is not None:
        published.extend(events.message_status(str(r[0]), str(r[1]), r[2], r[3], r[4]) for r in changed.values())
    return unread_changed


def _within_budget(held: dict[uuid.UUID, list[_Job]], budget: int) -> set[uuid.UUID]:
    """Cut each conversation's jobs in `held` to a prefix so that at most `budget` messages go (read receipts
    are not messages), a message from each conversation in turn; returns the conversations with jobs left."""
    taken = dict.fromkeys(held, 0)
    while True:
        for conversation_id, jobs in held.items():
            n = taken[conversation_id]
            while n < len(jobs) and jobs[n].task != DELIVER_MESSAGE:
                n += 1
            if n < len(jobs) and budget > 0:
                n, budget = n + 1, budget - 1
            taken[conversation_id] = n
        if budget <= 0 or all(taken[c] == len(jobs) for c, jobs in held.items()):
            break
    left: set[uuid.UUID] = set()
    for conversation_id, jobs in list(held.items()):
        n = taken[conversation_id]
        while n < len(jobs) and jobs[n].task != DELIVER_MESSAGE:
            n += 1  # a read receipt right after the last message taken goes with it
        if n < len(jobs):
            left.add(conversation_id)
        if n:
            held[conversation_id] = jobs[:n]
        else:
            del held[conversation_id]
    return left


async def deliver_conversations(context: AppContext, conversation_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Do the waiting send jobs (deliveries, read receipts) of these conversations, in order, in this process, as
    many as the number's sending limit lets go now. Returns the conversations with jobs left for later."""
    published: list[Any] = []
    left: set[uuid.UUID] = set()
    # Pipeline mode: BEGIN goes out with the first read, and the recording statements with the commit.
    async with context.transaction() as conn, conn.pipeline():
        messages: dict[uuid.UUID, tuple[Any, ...]] = {}
        held = await _take_jobs(conn, conversation_ids, messages)
        if not held:
            return left
        config = await context.active_config.get()
        sends = sum(1 for jobs in held.values() for job in jobs if job.task == DELIVER_MESSAGE)
        if config is not None and sends:
            # Only what this second's budget allows: a backlog (a broadcast, a burst of customers) goes out at the
            # number's rate, a second's worth per transaction, instead of waiting in one transaction for all of it
            # and then leaving at once.
            per_second = config.send_rate(context.settings.send_rate_per_second)
            granted = await take_available_send_slots(context.engine, config.phone_number_id, per_second, sends)
            if granted < sends:
                left = _within_budget(held, granted)
        outcomes = _Outcomes()
        await asyncio.gather(*(_send_chain(context, config, jobs, messages, outcomes) for jobs in held.values()))
        live = context.live()
        unread_changed = await _record(conn, outcomes, published if live else None)
    if unread_changed:
        # Their unread counts changed: a client comparing `updatedAt` must see newer conversations. After the
        # commit, in a statement of its own: the transaction above holds message rows and their status locks,
        # which a webhook's transaction takes after its conversations' rows (a deadlock, taken in that order).
        async with context.autocommit() as conn:
            await conn.execute(_TOUCH, (sorted(unread_changed),))
            if live:
                snapshots = await conversation_snapshots(conn, unread_changed)
                published.extend(events.conversation_updated(s) for s in snapshots)
    if outcomes.learned:
        await learn_bsuids(context, outcomes.learned)
    # A send WhatsApp accepted shows the credentials work, also when another send of the batch was refused for
    # them (a token renewed meanwhile, a passing failure): the settings page shows the error only while it lasts.
    accepted = any(status == "sent" for _, status, _, _ in outcomes.sends)
    if outcomes.config_errors and not accepted:
        await flag_config(context, outcomes.config_errors[0])
    elif config is not None and config.has_error and accepted:
        await clear_config_error(context)
    if published:
        await context.publisher.publish(published)
    return left
