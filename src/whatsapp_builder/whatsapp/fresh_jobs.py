"""A worker's fresh-job lane: the fast path (whatsapp/fast_path.py) for jobs that other processes defer.

`serve --no-workers` does no jobs: it defers a webhook's flow jobs (and an operator's sends) with the fast path's
grace, so procrastinate's workers leave them alone for `WAB_FAST_PATH_GRACE` seconds, and notifies
FRESH_JOBS_CHANNEL at commit. Each `worker` listens there, finds the conversations with fresh flow or send jobs,
and hands them to the same group-committed stages as `serve`'s fast path: many conversations per transaction,
instead of procrastinate's one job per fetch. Several workers may look at the same conversations: a
conversation's jobs are taken under its row lock or deleted in the transaction that does them (SKIP LOCKED), so
each is done once, and whatever a lane does not finish is still a job for the queue's workers after the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.db.urls import libpq_url
from whatsapp_builder.jobs.queue import FLOWS_QUEUE, FRESH_JOBS_CHANNEL, SEND_QUEUE
from whatsapp_builder.logging import get_logger
from whatsapp_builder.whatsapp import fast_path

log = get_logger(__name__)

# Conversations with fresh flow or send jobs (never tried) that can go now: not while a queue worker runs one
# of their jobs, nor behind a retry waiting for its backoff (their order would not allow it).
_FRESH = (
    "SELECT DISTINCT j.queue_name, j.lock FROM procrastinate_jobs j"
    " WHERE j.queue_name = ANY(%s) AND j.status = 'todo' AND j.attempts = 0 AND j.lock IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs b WHERE b.lock = j.lock"
    " AND (b.status = 'doing' OR (b.status = 'todo' AND b.attempts > 0)))"
    " LIMIT %s"
)
_PREFIXES = {FLOWS_QUEUE: "flow:", SEND_QUEUE: "send:"}
BATCH = 500


class FreshJobLane:
    def __init__(self, context: AppContext, *, poll_seconds: float) -> None:
        self._context = context
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        # Conversations being done here: their flow step delivers its own replies, so neither is looked at twice.
        self._busy: set[uuid.UUID] = set()
        # Busy ones that had more fresh jobs when last looked at: looked at again as soon as they are done.
        self._missed: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Until cancelled: wait for a notification (or the poll interval), then take what is fresh."""
        listener = asyncio.create_task(self._listen())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                self._wake.clear()
                try:
                    await self._take_fresh()
                except (psycopg.Error, OSError) as exc:
                    log.warning("fresh-job lane could not look for jobs; trying again", error=str(exc))
        finally:
            listener.cancel()
            for task in [listener, *self._tasks]:
                task.cancel()
            await asyncio.gather(listener, *self._tasks, return_exceptions=True)

    async def _listen(self) -> None:
        """Wake the lane on each notification; a lost connection is made again (the poll covers the gap)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    libpq_url(self._context.database_url), autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {FRESH_JOBS_CHANNEL}")
                    async for _ in connection.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("fresh-job lane lost its notifications; reconnecting", error=str(exc))
            await asyncio.sleep(self._poll)

    async def _take_fresh(self) -> None:
        async with self._context.autocommit() as connection:
            rows = await (await connection.execute(_FRESH, ([FLOWS_QUEUE, SEND_QUEUE], BATCH))).fetchall()
        for queue, lock in rows:
            conversation = _conversation(queue, lock)
            if conversation is None:
                continue
            if conversation in self._busy:
                self._missed.add(conversation)
                continue
            stage: Callable[[AppContext, uuid.UUID], Awaitable[None]] = (
                fast_path.handle_now if queue == FLOWS_QUEUE else fast_path.deliver_soon
            )
            self._start(conversation, functools.partial(stage, self._context, conversation))

    def _start(self, conversation: uuid.UUID, work: Callable[[], Awaitable[None]]) -> None:
        self._busy.add(conversation)
        task = asyncio.get_running_loop().create_task(self._do(conversation, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _do(self, conversation: uuid.UUID, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("fresh-job lane failed; the queue's workers will retry", conversation_id=str(conversation))
        finally:
            self._busy.discard(conversation)
            # Its next jobs arrived meanwhile: look again now. Otherwise wait for a notification or the poll, so
            # that a conversation this lane cannot take (another process holds it) is not retried in a loop.
            if conversation in self._missed:
                self._missed.discard(conversation)
                self._wake.set()


def _conversation(queue: Any, lock: Any) -> uuid.UUID | None:
    prefix = _PREFIXES.get(str(queue))
    if prefix is None or not str(lock).startswith(prefix):
        return None
    try:
        return uuid.UUID(str(lock)[len(prefix) :])
    except ValueError:
        return None
