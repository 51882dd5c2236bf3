"""How far behind the workers' fresh-job lanes are, told to the `serve --no-workers` processes that feed them.

All-in-one `serve` knows its own fast path's lag and grows the grace of the fresh jobs it defers with it
(`JobQueue.fresh_job_grace`): past capacity, procrastinate's workers would otherwise take those jobs one fetch
at a time while the fast path still holds them in memory, racing it for each and doing them at a fraction of its
speed. With `serve --no-workers`, the fast path is the `worker` processes' lanes (whatsapp/fresh_jobs.py), in
other processes: each worker sends its lag on LANE_LAG_CHANNEL every REPORT_SECONDS while it is behind (and
once when it has caught up), and each such `serve` keeps the largest lag reported in the last EXPIRY_SECONDS.
A worker that stops reporting (it caught up, stopped or died) no longer counts after that.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

from whatsapp_builder.db.urls import libpq_url
from whatsapp_builder.logging import get_logger

if TYPE_CHECKING:
    from whatsapp_builder.core.context import AppContext

log = get_logger(__name__)

LANE_LAG_CHANNEL = "wab_lane_lag"
REPORT_SECONDS = 1.0
EXPIRY_SECONDS = 3 * REPORT_SECONDS
RECONNECT_SECONDS = 1.0


async def report_lane_lag(
    context: AppContext, worker_id: str, lag: Callable[[], float], *, every: float = REPORT_SECONDS
) -> None:
    """Until cancelled: send `lag()` (seconds) every `every` seconds while it is above 0, and one 0 after."""
    behind = False
    while True:
        seconds = max(0.0, lag())
        if seconds > 0 or behind:
            try:
                async with context.autocommit() as connection:
                    await connection.execute(
                        "SELECT pg_notify(%s, %s)", (LANE_LAG_CHANNEL, f"{worker_id} {seconds:.3f}")
                    )
                behind = seconds > 0
            except (psycopg.Error, OSError) as exc:
                log.warning("could not report the lane's lag", error=str(exc))
        await asyncio.sleep(every)


class LaneLag:
    """The lags the workers report, as one figure: the largest still fresh (0 when none is)."""

    def __init__(self, *, expiry: float = EXPIRY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry = expiry
        self._clock = clock
        self._reports: dict[str, tuple[float, float]] = {}  # worker id -> (lag, when heard)

    def heard(self, payload: str) -> None:
        worker_id, _, figure = payload.rpartition(" ")
        try:
            lag = float(figure)
        except ValueError:
            return
        if not math.isfinite(lag) or lag < 0:
            return
        if lag == 0:
            self._reports.pop(worker_id, None)
        else:
            self._reports[worker_id] = (lag, self._clock())

    def current(self) -> float:
        now = self._clock()
        for worker_id in [w for w, (_, at) in self._reports.items() if now - at > self._expiry]:
            del self._reports[worker_id]
        return max((lag for lag, _ in self._reports.values()), default=0.0)

    async def listen(self, database_url: str) -> None:
        """Until cancelled: hear the workers' reports (a lost connection is made again)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {LANE_LAG_CHANNEL}")
                    async for notification in conn.notifies():
                        self.heard(notification.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("lost the workers' lag reports; reconnecting", error=str(exc))
            self._reports.clear()  # what they said may no longer hold, and what they say meanwhile is not heard
            await asyncio.sleep(RECONNECT_SECONDS)
