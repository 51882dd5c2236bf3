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


class _InFlight:
    """A stage's conversations in a batch in flight, and those asked for again meanwhile.

    A batch holds what it takes of a conversation (its turn lock, the first of its send jobs), so another batch
    would skip the conversation and leave its new work to a worker, after the grace (seconds): a customer's second
    message that arrives while the bot answers the first, a reply queued while the one before it is being sent.
    Such a conversation goes in a batch of its own as soon as the one in flight is done instead."""

    def __init__(self) -> None:
        self._busy: set[uuid.UUID] = set()
        self._again: set[uuid.UUID] = set()

    def take(self, asked: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """The conversations of `asked` no batch has now, taken for this one (in key order)."""
        wanted = set(asked)
        self._again.update(wanted & self._busy)
        mine = sorted(wanted - self._busy)
        self._busy.update(mine)
        return mine

    def release(self, mine: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """This batch is done with `mine`: returns those asked for again meanwhile, to do next."""
        self._busy.difference_update(mine)
        redo = self._again.intersection(mine)
        self._again -= redo
        return redo


def _flows(context: AppContext) -> GroupCommit[uuid.UUID, bool]:
    in_flight = _InFlight()

    async def flow_steps(conversation_ids: Sequence[uuid.UUID]) -> list[bool]:
        mine = in_flight.take(conversation_ids)
        alone: list[uuid.UUID] = []
        try:
            with_replies = set(await process_inbound_batch(context, mine, alone)) if mine else set()
        finally:
            for conversation_id in in_flight.release(mine):
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
    # A batch takes none of a conversation's jobs while another holds the first of them (their order): see _InFlight.
    in_flight = _InFlight()

    async def deliveries(conversation_ids: Sequence[uuid.UUID]) -> list[None]:
        mine = in_flight.take(conversation_ids)
        left: set[uuid.UUID] = set()
        try:
            left = await deliver_conversations(context, mine) if mine else set()
        finally:
            # Beyond this second's sending limit, or asked for while this batch had them: in a later batch.
            for conversation_id in left | in_flight.release(mine):
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
