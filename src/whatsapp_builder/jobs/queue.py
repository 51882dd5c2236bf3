"""The durable job queue (procrastinate on PostgreSQL): flow steps, deliveries, read receipts and delays.

Jobs are deferred inside the caller's transaction, so a job exists exactly when the data it works on was
committed: a crash between commit and work loses nothing, a rollback leaves no stray job. Jobs sharing a
`lock` run one after another in the order they were deferred (one conversation's replies never overtake each
other); jobs with different locks run in parallel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import procrastinate
from procrastinate import jobs as procrastinate_jobs
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.db.urls import libpq_url

FLOWS_QUEUE = "flows"
SEND_QUEUE = "send"
TIMERS_QUEUE = "timers"
MAINTENANCE_QUEUE = "maintenance"


@dataclass(frozen=True)
class JobSpec:
    task_name: str
    queue: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    lock: str | None = None
    schedule_at: dt.datetime | None = None


async def raw_connection(session: AsyncSession) -> Any:
    """The psycopg connection under a session, inside its current transaction."""
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

    async def open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def defer(self, session: AsyncSession, specs: Sequence[JobSpec]) -> None:
        """Defer jobs in the session's transaction: they exist only if it commits."""
        if not specs:
            return
        jobs = [
            procrastinate_jobs.Job(
                queue=spec.queue,
                lock=spec.lock,
                queueing_lock=None,
                task_name=spec.task_name,
                task_kwargs=spec.kwargs,
                scheduled_at=spec.schedule_at,
            )
            for spec in specs
        ]
        await self.app.job_manager.batch_defer_jobs_async(jobs=jobs, connection=await raw_connection(session))
