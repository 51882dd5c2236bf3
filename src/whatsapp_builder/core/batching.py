"""Group commit: callers that arrive while a batch is being written are written together in the next one.

Under load the per-transaction cost (round trips, commit, fsync) dominates small writes; sharing one transaction
among every caller that waited behind the previous one divides it by the batch size, and at a trickle each caller
still goes alone and at once (there is no timer). Every caller gets its own result or its own exception: when a
batch fails for a reason that may be one item's fault, its items are retried one by one so the others still land.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Handler = Callable[[Sequence[T]], Awaitable[Sequence[R]]]


class ShuttingDown(RuntimeError):
    """The process is stopping: the item was not written."""


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        handler: Handler[T, R],
        *,
        max_batch: int = 200,
        max_in_flight: int = 2,
        isolate: Callable[[BaseException], bool] = lambda exc: True,
        before_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`handler` writes a batch and returns one result per item, in order. `isolate(exc)` says whether a
        failed batch is worth retrying item by item (not when the database is simply down). `before_batch` is
        awaited before each batch is taken: callers that arrive meanwhile join it."""
        self._handler = handler
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._isolate = isolate
        self._before_batch = before_batch
        # (item, its future, when it arrived)
        self._waiting: list[tuple[T, asyncio.Future[R], float]] = []
        self._written = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._draining = 0
        self._closed = False
        self.batches_written = 0  # counters for tests and diagnostics
        self.items_written = 0
        self.seconds_writing = 0.0  # in the handler, for the batches written

    async def submit(self, item: T) -> R:
        if self._closed:
            raise ShuttingDown("the server is shutting down")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # a caller that went away leaves no "never retrieved" warning
        self._waiting.append((item, future, time.monotonic()))
        # Counted by the drains themselves, not by their tasks: a finished task leaves the set only in a later
        # callback, and an item queued in between would otherwise wait for the next caller to start a drain.
        if self._draining < self._max_in_flight:
            self._draining += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # The caller may go away (client disconnect); the batch it joined is written all the same.
        return await asyncio.shield(future)

    @property
    def in_flight(self) -> int:
        """Batches being written now."""
        return self._draining

    def backlog_seconds(self) -> float:
        """How long the oldest caller still waiting for a batch has waited (0 when none waits)."""
        return time.monotonic() - self._waiting[0][2] if self._waiting else 0.0

    async def caught_up(self, max_wait: float, limit: float) -> None:
        """Return once no caller has waited longer than `max_wait` seconds, or after `limit` seconds."""
        deadline = time.monotonic() + limit
        while self.backlog_seconds() > max_wait:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):  # not wait_for: see FreshJobLane.run
                    await self._written.wait()

    async def _drain(self) -> None:
        try:
            while self._waiting:
                if self._before_batch is not None:
                    await self._before_batch()
                batch = [(item, future) for item, future, _ in self._waiting[: self._max_batch]]
                del self._waiting[: self._max_batch]
                if batch:
                    await self._write(batch)
        finally:
            self._draining -= 1

    def _wrote(self) -> None:
        written, self._written = self._written, asyncio.Event()
        written.set()

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            await self._write_batch(batch)
        finally:
            self._wrote()

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        started = time.monotonic()
        try:
            results = await self._handler([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(ShuttingDown("the server is shutting down"))
            raise
        except Exception as exc:
            if len(batch) > 1 and self._isolate(exc):
                for one in batch:
                    await self._write([one])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches_written += 1
        self.items_written += len(batch)
        self.seconds_writing += time.monotonic() - started
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        self._closed = True
        # Let the batches already taken finish: their callers are waiting for a durable answer.
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for _, future, _ in self._waiting:
            if not future.done():
                future.set_exception(ShuttingDown("the server is shutting down"))
        self._waiting.clear()
