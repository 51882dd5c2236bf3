"""The durable job queue (procrastinate on PostgreSQL): flow steps, deliveries, read receipts and delays.

Jobs are deferred inside the caller's transaction, so a job exists exactly when the data it works on was
committed: a crash between commit and work loses nothing, a rollback leaves no stray job. Jobs sharing a
`lock` run one after another in the order they were deferred (one conversation's replies never overtake each
other); jobs with different locks run in parallel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import procrastinate
import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.db.urls import libpq_url

FLOWS_QUEUE = "flows"
SEND_QUEUE = "send"
TIMERS_QUEUE = "timers"
MAINTENANCE_QUEUE = "maintenance"
FAST_PATH_QUEUES = frozenset({FLOWS_QUEUE, SEND_QUEUE})
# The most a fast-path backlog adds to a fresh job's grace: what a job waits for a worker if the process that
# queued it dies while that far behind.
MAX_LAG_GRACE = 120.0
# Workers' fresh-job lanes listen here (whatsapp/fresh_jobs.py); sent at commit by processes without a fast path.
FRESH_JOBS_CHANNEL = "wab_fresh_jobs"


@dataclass(frozen=True)
class JobSpec:
    task_name: str
    queue: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    lock: str | None = None
    schedule_at: dt.datetime | None = None


async def raw_connection(session: AsyncSession | psycopg.AsyncConnection[Any]) -> Any:
    """The psycopg connection under a session, inside its current transaction (a psycopg connection is itself)."""
    if isinstance(session, psycopg.AsyncConnection):
        return session
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


class JobQueue:
    def __init__(self, database_url: str, *, pool_size: int = 4) -> None:
        self.connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(database_url), min_size=1, max_size=max(2, pool_size)
        )
        self.app = procrastinate.App(connector=self.connector)
        self._opened = False
        # Set while this process's fast path does its own fresh flow and send jobs: they are then deferred
        # `grace` seconds ahead, so that workers only take them if the fast path has not within that time
        # (a crash, a temporary failure). The fast path takes them at once (attempts = 0).
        self.grace: float | None = None
        # How far behind the fast path is (0 when it keeps up): past its capacity, fresh jobs wait in its memory
        # longer than the grace, and workers fetching them one at a time would race it for every one and do them
        # at a fraction of its speed. Their grace grows with this lag instead (see fresh_job_grace).
        self.lag: Callable[[], float] | None = None
        # Set in a process that does no jobs (`serve --no-workers`): its transactions that defer flow or send
        # jobs also notify FRESH_JOBS_CHANNEL, so that a worker's lane takes them at once.
        self.announce = False

    def fresh_job_grace(self) -> float:
        """Seconds ahead that fresh fast-path jobs are deferred: the grace, plus twice the fast path's lag (a job
        joining a backlog waits about as long as the oldest one in it has), at most MAX_LAG_GRACE more."""
        grace = self.grace or 0.0
        lag = self.lag() if self.lag is not None else 0.0
        return grace + min(2 * lag, MAX_LAG_GRACE) if lag > 0 else grace

    async def open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def defer(self, session: AsyncSession | psycopg.AsyncConnection[Any], specs: Sequence[JobSpec]) -> None:
        """Defer jobs in the session's transaction: they exist only if it commits.

        One plain multi-row insert, in the order given (ids, hence a lock's run order, follow it): what
        procrastinate's `procrastinate_defer_jobs_v1` does, without its composite-type array, whose encoding
        cost more than the insert on the hot path. Its insert trigger still notifies listening workers.
        """
        if not specs:
            return
        connection = await raw_connection(session)
        later = None
        if self.grace:
            later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.fresh_job_grace())
        await connection.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, scheduled_at)"
            " SELECT r->>0, r->>1, r->>2, r->3, (r->>4)::timestamptz"
            " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, n) ORDER BY n",
            (
                json_rows(
                    (
                        spec.queue,
                        spec.task_name,
                        spec.lock,
                        spec.kwargs,
                        spec.schedule_at or (later if spec.queue in FAST_PATH_QUEUES else None),
                    )
                    for spec in specs
                ),
            ),
        )
        if self.announce:
            locks = sorted({spec.lock for spec in specs if spec.queue in FAST_PATH_QUEUES and spec.lock})
            if locks:
                # The locks name the conversations (flow:<id>, send:<id>): the lanes need not search the table.
                # Past PostgreSQL's payload limit, an empty payload asks them to search it.
                payload = ",".join(locks)
                await connection.execute(
                    "SELECT pg_notify(%s, %s)", (FRESH_JOBS_CHANNEL, payload if len(payload) < 7900 else "")
                )
