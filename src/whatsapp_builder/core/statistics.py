"""Fresh planner statistics for the tables a new database fills fastest.

PostgreSQL plans from statistics that autovacuum refreshes at most once a minute per database. A new database
taking load goes from empty to tens of thousands of messages in that minute, and its prepared statements keep
plans made for empty tables: the bench saw a flow step's lookups scan every active context and every message
(tens of milliseconds per statement) until the next automatic ANALYZE. So each process counts the messages it
stores and analyzes the busy tables whenever their number has doubled since it last looked: a handful of
quick ANALYZEs while the tables are young, none once they are large.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from whatsapp_builder.logging import get_logger

log = get_logger(__name__)

TABLES = ("messages", "conversations", "conversation_participants", "conversation_contexts", "users")
# Below this many new messages a table's statistics are close enough: no ANALYZE for a trickle.
MIN_GROWTH = 1000

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


class TableStatistics:
    """Call `grew(n)` after storing `n` messages; ANALYZE runs in the background when they doubled."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._known_rows: float | None = None  # messages in the table when last looked at
        self._grown = 0
        self._task: asyncio.Task[None] | None = None
        self.analyzed = 0

    def grew(self, rows: int) -> None:
        self._grown += rows
        if self._task is not None or self._grown < max(MIN_GROWTH, self._known_rows or 0):
            return
        self._task = asyncio.get_running_loop().create_task(self._refresh())
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("statistics not refreshed", error=str(task.exception()))

    async def _refresh(self) -> None:
        async with self._connect() as conn:
            if self._known_rows is None:  # first look: a large table needs nothing from us for a long while
                self._known_rows = await _rows(conn)
                if self._grown < max(MIN_GROWTH, self._known_rows):
                    return
            await conn.execute("ANALYZE " + ", ".join(TABLES))
            self._known_rows = await _rows(conn)
        self._grown = 0
        self.analyzed += 1

    async def idle(self) -> None:
        """Wait for a refresh under way, if any."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _rows(conn: psycopg.AsyncConnection[Any]) -> float:
    query = "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'messages'::regclass"
    row = await (await conn.execute(query)).fetchone()
    return float(row[0]) if row else 0.0
