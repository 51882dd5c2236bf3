"""A worker's fresh-job lane: the fast path (whatsapp/fast_path.py) for jobs that other processes defer.

`serve --no-workers` does no jobs: it defers a webhook's flow jobs (and an operator's sends) with the fast path's
grace, so procrastinate's workers leave them alone for `WAB_FAST_PATH_GRACE` seconds, and notifies
FRESH_JOBS_CHANNEL at commit with the jobs' locks, which name their conversations. Each `worker` listens there
and hands those conversations to the same group-committed stages as `serve`'s fast path: many conversations per
transaction, instead of procrastinate's one job per fetch. It searches the job table itself only every poll
interval (and for a notification too long to name them): the table churns, and a search wades through the
rows of jobs done since the last vacuum. Several workers may look at the same conversations: a
conversation's jobs are taken under its turn lock or deleted in the transaction that does them (SKIP LOCKED), so
each is done once, and whatever a lane does not finish is still a job for the queue's workers after the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.crypto import SecretKeyMismatch
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
STOP_SECONDS = 10.0
DRAIN_SECONDS = 10.0


class FreshJobLane:
    def __init__(self, context: AppContext, *, poll_seconds: float) -> None:
        self._context = context
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._named: set[tuple[str, uuid.UUID]] = set()  # (queue, conversation) from notifications
        self._search = False  # look through the job table on the next pass (after each poll interval)
        # Conversations being done here: their flow step delivers its own replies, so neither is looked at twice.
        self._busy: set[uuid.UUID] = set()
        # Named again while busy: looked at again as soon as they are done.
        self._missed: dict[uuid.UUID, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Until cancelled: wait for a notification (or the poll interval), then take what is fresh."""
        listener = asyncio.create_task(self._listen())
        try:
            searched = time.monotonic()
            while True:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that comes as
                # the wait ends (CPython gh-86296), and the lane would go on after a SIGTERM.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._wake.wait()
                self._wake.clear()
                # Every poll interval, busy or not: a conversation another process held when it was named, or
                # named in a notification this lane missed, is found here.
                if time.monotonic() - searched >= self._poll:
                    self._search, searched = True, time.monotonic()
                try:
                    await self._take_fresh()
                except (psycopg.Error, OSError) as exc:
                    log.warning("fresh-job lane could not look for jobs; trying again", error=str(exc))
        finally:
            # Stopping (SIGTERM, Ctrl+C): the conversations under way finish first, for a while, so that replies
            # already sent are recorded as sent, rather than sent again by whoever takes their jobs next.
            listener.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=DRAIN_SECONDS)
            await self._stop([listener, *self._tasks])

    @staticmethod
    async def _stop(tasks: list[asyncio.Task[None]]) -> None:
        """Cancel the lane's tasks and wait for them, but not for ever: a task that does not end within
        STOP_SECONDS (a database call that ignores its cancellation) is left, with a warning naming where it
        waits, rather than keeping a worker from shutting down. Its jobs stay in the queue for the workers."""
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in pending:
            frames = task.get_stack(limit=3)
            where = "; ".join(f"{f.f_code.co_name} ({f.f_code.co_filename}:{f.f_lineno})" for f in frames)
            log.warning("fresh-job lane task did not stop when cancelled; left behind", task=task.get_name(), at=where)

    async def _listen(self) -> None:
        """Note the conversations each notification names and wake the lane; a lost connection is made again
        (the poll's search covers the gap)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    libpq_url(self._context.database_url), autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {FRESH_JOBS_CHANNEL}")
                    # Jobs committed before this LISTEN took effect (at start, or while reconnecting) were named
                    # in notifications no one heard: look through the table once now rather than a poll later.
                    self._search = True
                    self._wake.set()
                    async for notification in connection.notifies():
                        self._note(notification.payload)
                        self._wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("fresh-job lane lost its notifications; reconnecting", error=str(exc))
            self._search = True
            await asyncio.sleep(self._poll)

    def _note(self, payload: str) -> None:
        named = [item for item in (_from_lock(lock) for lock in payload.split(",")) if item is not None]
        if named:
            self._named.update(named)
        else:
            self._search = True

    async def _take_fresh(self) -> None:
        found, self._named = self._named, set()
        if self._search:
            self._search = False
            async with self._context.autocommit() as connection:
                rows = await (await connection.execute(_FRESH, ([FLOWS_QUEUE, SEND_QUEUE], BATCH))).fetchall()
            found.update((str(q), c) for q, lock in rows if (c := _conversation(q, lock)) is not None)
        # A conversation's flow step delivers its replies too: with both named, the flow step goes first.
        for queue, conversation in sorted(found, key=lambda item: item[0] != FLOWS_QUEUE):
            if conversation in self._busy:
                if self._missed.get(conversation) != FLOWS_QUEUE:
                    self._missed[conversation] = queue
                continue
            self._start(queue, conversation)

    def _start(self, queue: str, conversation: uuid.UUID) -> None:
        stage: Callable[[AppContext, uuid.UUID], Awaitable[None]] = (
            fast_path.handle_now if queue == FLOWS_QUEUE else fast_path.deliver_soon
        )
        self._busy.add(conversation)
        task = asyncio.get_running_loop().create_task(
            self._do(conversation, functools.partial(stage, self._context, conversation))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _do(self, conversation: uuid.UUID, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except SecretKeyMismatch:
            pass  # the config cache said it (whatsapp/active_config.py); the jobs wait for a process with the key
        except Exception:
            log.exception("fresh-job lane failed; the queue's workers will retry", conversation_id=str(conversation))
        finally:
            self._busy.discard(conversation)
            # Named again meanwhile: its next jobs came, take them now. A conversation this lane could not take
            # (another process holds it) is not retried in a loop: the next notification or search finds it.
            queue = self._missed.pop(conversation, None)
            if queue is not None:
                self._named.add((queue, conversation))
                self._wake.set()


def _from_lock(lock: str) -> tuple[str, uuid.UUID] | None:
    for queue, prefix in _PREFIXES.items():
        if lock.startswith(prefix):
            conversation = _conversation(queue, lock)
            return (queue, conversation) if conversation is not None else None
    return None


def _conversation(queue: Any, lock: Any) -> uuid.UUID | None:
    prefix = _PREFIXES.get(str(queue))
    if prefix is None or not str(lock).startswith(prefix):
        return None
    try:
        return uuid.UUID(str(lock)[len(prefix) :])
    except ValueError:
        return None
