"""The in-process fast path: a process that runs workers (`serve` by default, every `worker`) does the fresh jobs
its own webhooks, flow steps, timers and operator sends create, at once.

Each stage (flow steps, then deliveries) is group-committed: the conversations that reach it together are done
in one transaction. Jobs are still deferred first (a grace period ahead, see AppContext.enable_fast_path) and
taken the way a worker takes them, so a crash or a failure here leaves them to the workers (see jobs/inline.py).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence

from whatsapp_builder.core.batching import GroupCommit
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows.runner import process_inbound_batch, process_inbound_many
from whatsapp_builder.whatsapp.fast_delivery import deliver_conversations
from whatsapp_builder.whatsapp.inbound_service import database_unavailable


def _retry_alone(exc: BaseException) -> bool:
    return not database_unavailable(exc)


# Webhooks first: Meta wants them answered within a second (a median of 250 ms), and every other stage's work
# comes from them anyway. While stored webhooks wait longer than this for their transaction, the stages after
# them take no new batch (their callers gather into bigger ones), for at most WEBHOOKS_FIRST_LIMIT each time.
WEBHOOKS_FIRST_AFTER = 0.1
WEBHOOKS_FIRST_LIMIT = 1.0


def _webhooks_first(context: AppContext) -> Callable[[], Awaitable[None]]:
    async def wait() -> None:
        webhooks = context.batchers.get("webhooks")
        if webhooks is not None and webhooks.backlog_seconds() > WEBHOOKS_FIRST_AFTER:
            await webhooks.caught_up(WEBHOOKS_FIRST_AFTER, WEBHOOKS_FIRST_LIMIT)

    return wait


def _flows(context: AppContext) -> GroupCommit[uuid.UUID, bool]:
    # As in the delivery stage: a conversation in a batch in flight holds its turn lock, so another batch would skip
    # it and leave its new message to a worker, after the grace (seconds). A customer's second message that arrives
    # while the bot answers the first goes in a batch of its own as soon as that one is done instead.
    busy: set[uuid.UUID] = set()
    again: set[uuid.UUID] = set()

    async def flow_steps(conversation_ids: Sequence[uuid.UUID]) -> list[bool]:
        asked = set(conversation_ids)
        again.update(asked & busy)
        mine = sorted(asked - busy)
        busy.update(mine)
        alone: list[uuid.UUID] = []
        try:
            with_replies = set(await process_inbound_batch(context, mine, alone)) if mine else set()
        finally:
            busy.difference_update(mine)
            for conversation_id in again & set(mine):
                again.discard(conversation_id)
                context.inline.submit(functools.partial(handle_now, context, conversation_id))
        for conversation_id in alone:  # their turns call an API: not in this batch, nor in this stage
            context.inline.submit(functools.partial(_own_turn, context, conversation_id))
        answers = []
        for conversation_id in conversation_ids:
            answers.append(conversation_id in with_replies)
            with_replies.discard(conversation_id)  # delivered once, even when submitted twice
        return answers

    return context.batcher(
        "flows",
        lambda: GroupCommit(flow_steps, max_batch=100, isolate=_retry_alone, before_batch=_webhooks_first(context)),
    )


def _delivery_stage(context: AppContext) -> GroupCommit[uuid.UUID, None]:
    # Conversations in a batch in flight here, and those asked for again meanwhile: a batch takes none of a
    # conversation's jobs while another holds the first of them (their order), so a reply queued while the one
    # before it is being sent (a customer's second message right after the first) would wait for a worker's
    # grace. It goes in a batch of its own as soon as the one in flight is done instead.
    busy: set[uuid.UUID] = set()
    again: set[uuid.UUID] = set()

    async def deliveries(conversation_ids: Sequence[uuid.UUID]) -> list[None]:
        asked = set(conversation_ids)
        again.update(asked & busy)
        mine = sorted(asked - busy)
        busy.update(mine)
        left: set[uuid.UUID] = set()
        try:
            left = await deliver_conversations(context, mine) if mine else set()
        finally:
            busy.difference_update(mine)
            # Beyond this second's sending limit, or asked for while this batch had them: in a later batch.
            for conversation_id in left | (again & set(mine)):
                again.discard(conversation_id)
                context.inline.submit(functools.partial(deliver_soon, context, conversation_id))
        return [None] * len(conversation_ids)

    # Several in flight: a batch waits on the Graph API, holding one database connection meanwhile. A failed
    # batch is not retried here: some of its messages may have been sent; the workers take over its jobs.
    return GroupCommit(
        deliveries,
        max_batch=100,
        max_in_flight=4,
        isolate=lambda exc: False,
        before_batch=_webhooks_first(context),
    )


def _deliveries(context: AppContext) -> GroupCommit[uuid.UUID, None]:
    return context.batcher("deliveries", lambda: _delivery_stage(context))


async def _own_turn(context: AppContext, conversation_id: uuid.UUID) -> None:
    """A conversation whose turn calls an API (an HTTP request node), left out of its batch: run alone, in a
    transaction of its own, so that waiting for the API holds up no other customer's reply."""
    async with context.own_turns:
        if await process_inbound_batch(context, [conversation_id]):
            await _deliveries(context).submit(conversation_id)


# A worker's flow job whose turn calls an API (see _own_turn).
_ALONE = None


def _worker_flows(context: AppContext) -> GroupCommit[tuple[uuid.UUID, list[uuid.UUID]], bool | None]:
    async def flow_jobs(jobs: Sequence[tuple[uuid.UUID, list[uuid.UUID]]]) -> list[bool | None]:
        alone: list[uuid.UUID] = []
        with_replies = set(await process_inbound_many(context, jobs, alone))
        answers: list[bool | None] = []
        for conversation_id, _ in jobs:
            answers.append(_ALONE if conversation_id in alone else conversation_id in with_replies)
            with_replies.discard(conversation_id)
        return answers

    return context.batcher("worker-flows", lambda: GroupCommit(flow_jobs, max_batch=100, isolate=_retry_alone))


async def run_flow_job(context: AppContext, conversation_id: uuid.UUID, message_ids: list[uuid.UUID]) -> None:
    """A worker's flow job, in one transaction with the other flow jobs it runs at the same time (alone when its
    turn calls an API); its replies are then delivered by the fast path when this process runs one, else by
    their own jobs."""
    replied = await _worker_flows(context).submit((conversation_id, message_ids))
    if replied is _ALONE:
        async with context.own_turns:
            replied = bool(await process_inbound_many(context, [(conversation_id, message_ids)]))
    if replied and context.inline.enabled:
        context.inline.submit(functools.partial(deliver_soon, context, conversation_id))


async def handle_now(context: AppContext, conversation_id: uuid.UUID) -> None:
    """A conversation with a new customer message: its flow step, then its replies' delivery."""
    if await _flows(context).submit(conversation_id):
        await _deliveries(context).submit(conversation_id)


async def deliver_soon(context: AppContext, conversation_id: uuid.UUID) -> None:
    """A conversation with new outbound messages (an operator's, a worker's flow step's, a timer's): their
    delivery."""
    await _deliveries(context).submit(conversation_id)
