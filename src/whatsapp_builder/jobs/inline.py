"""The in-process fast path: a web process that runs workers does a conversation's waiting jobs right away.

Jobs are still deferred in the transaction that creates their data, so nothing depends on this path: it only
saves the queue's round trip (fetch, poll) on the common path. It takes a job the way a worker would, with a
row lock or by deleting it inside the transaction that does its work, so a job is done once whichever side
gets it, and a crash leaves it to the workers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from whatsapp_builder.core.crypto import SecretKeyMismatch
from whatsapp_builder.logging import get_logger

log = get_logger(__name__)


class InlineRunner:
    """`concurrency` bounds the work in progress (the work itself is batched: see inbound_service)."""

    def __init__(self, concurrency: int = 1024) -> None:
        self.enabled = False
        self._concurrency = concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # When each piece of work still waiting for a place was submitted, oldest first (see lag_seconds).
        self._queued: deque[float] = deque()

    def submit(self, work: Callable[[], Awaitable[None]]) -> None:
        if not self.enabled:
            return
        task = asyncio.get_running_loop().create_task(self._run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def lag_seconds(self) -> float:
        """How long the oldest piece of work still waiting for a place has waited (0 when none waits)."""
        return time.monotonic() - self._queued[0] if self._queued else 0.0

    async def _run(self, work: Callable[[], Awaitable[None]]) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._concurrency)
        # The semaphore wakes its waiters in order, so the oldest submission is the first to leave the queue.
        self._queued.append(time.monotonic())
        try:
            await self._semaphore.acquire()
        finally:
            self._queued.popleft()
        try:
            await work()
        except SecretKeyMismatch:
            pass  # the config cache said it (whatsapp/active_config.py); the jobs wait for a process with the key
        except Exception:
            # Whatever it did not finish is still a job in the queue: a worker takes it over.
            log.exception("in-process job failed; the queue will retry it")
        finally:
            self._semaphore.release()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self.enabled = False
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
