"""What one process shares between requests and jobs: settings, the database pool, the secret box, the job
queue, the Graph API client and the real-time publisher.

Created by the app factory (or a worker) and passed along; nothing here lives at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import psycopg
import psycopg_pool
from psycopg.types.array import ListBinaryDumper
from psycopg.types.json import set_json_dumps, set_json_loads
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from whatsapp_builder.core import fastjson
from whatsapp_builder.core.batching import GroupCommit
from whatsapp_builder.core.crypto import SecretBox
from whatsapp_builder.core.ids import Uuid7Generator
from whatsapp_builder.core.statistics import TableStatistics
from whatsapp_builder.db.engine import create_engine, create_session_factory
from whatsapp_builder.db.urls import libpq_url
from whatsapp_builder.flows.catalog import BotCatalog
from whatsapp_builder.jobs.inline import InlineRunner
from whatsapp_builder.jobs.lane_lag import LaneLag
from whatsapp_builder.jobs.queue import JobQueue
from whatsapp_builder.settings import Settings
from whatsapp_builder.whatsapp.active_config import ActiveConfigCache
from whatsapp_builder.whatsapp.graph_client import GraphClient
from whatsapp_builder.whatsapp.graph_http import GraphHttp
from whatsapp_builder.whatsapp.known_bsuids import KnownBsuids
from whatsapp_builder.whatsapp.refusals import RefusedDeliveries


class Publisher(Protocol):
    """Sends real-time events (name, payload, rooms) to connected clients; called only after a commit."""

    async def publish(self, events: Sequence[Any]) -> None: ...


class NoPublisher:
    async def publish(self, events: Sequence[Any]) -> None:
        return None

    def listening(self) -> bool:
        return False


def has_listeners(publisher: object) -> bool:
    """Whether anyone may hear an event: when no one can, callers skip building events (and the queries behind
    them). A publisher without `listening()` is assumed heard."""
    listening = getattr(publisher, "listening", None)
    return True if listening is None else bool(listening())


T = TypeVar("T")
R = TypeVar("R")


async def _configure_hot_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    # The hot paths pass whole batches as arrays (`unnest(%s::uuid[], ...)`). psycopg writes a list as text by
    # default, a Python loop that formats each element: 5 µs a timestamp, 2 µs a UUID, a few milliseconds per
    # webhook batch on the single writer. In binary it is 8 to 16 times cheaper.
    conn.adapters.register_dumper(list, ListBinaryDumper)
    # JSON and JSONB columns (engine states, contents, job arguments) through orjson, not the standard library;
    # read back exactly: a customer's answer stored as an integer beyond 64 bits stays one (`exact_loads`).
    set_json_loads(fastjson.exact_loads, conn)
    set_json_dumps(fastjson.dumps, conn)


@dataclass
class AppContext:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    active_config: ActiveConfigCache
    jobs: JobQueue
    hot_pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]]
    http: httpx.AsyncClient
    graph_http: GraphHttp
    graph: GraphClient
    ids: Uuid7Generator = field(default_factory=Uuid7Generator)
    bots: BotCatalog = field(default_factory=BotCatalog)
    inline: InlineRunner = field(default_factory=InlineRunner)
    publisher: Publisher = field(default_factory=NoPublisher)
    batchers: dict[str, GroupCommit[Any, Any]] = field(default_factory=dict)
    refusals: RefusedDeliveries = field(default_factory=RefusedDeliveries)
    known_bsuids: KnownBsuids = field(default_factory=KnownBsuids)
    # Bot turns that call an API run alone, outside the group-committed batches, this many at once (each holds
    # a hot-pool connection while its API answers): flows/runner.py, whatsapp/fast_path.py.
    own_turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))
    statistics: TableStatistics = field(init=False)
    _pool_check: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    # What the workers' lanes report of their lag, heard by a `serve --no-workers` (see hand_fresh_jobs_to_workers).
    lane_lag: LaneLag | None = None

    def __post_init__(self) -> None:
        self.statistics = TableStatistics(self.autocommit)

    def enable_fast_path(self, enabled: bool = True) -> None:
        """This process does its own fresh jobs at once (whatsapp/fast_path.py); the workers keep them as a
        fallback, deferred by `WAB_FAST_PATH_GRACE` seconds."""
        self.inline.enabled = enabled
        self.jobs.grace = self.settings.fast_path_grace_seconds if enabled else None
        self.jobs.lag = self.fast_path_lag if enabled else None
        self.jobs.announce = False

    def fast_path_lag(self) -> float:
        """About how long fresh work now waits in this process's fast path before its transaction begins: for
        a place (InlineRunner), then for a flow batch and for a delivery batch (0 when it keeps up)."""
        lag = self.inline.lag_seconds()
        for stage in ("flows", "deliveries", "worker-flows"):
            batcher = self.batchers.get(stage)
            if batcher is not None:
                lag += batcher.backlog_seconds()
        return lag

    def hand_fresh_jobs_to_workers(self) -> None:
        """This process does no jobs (`serve --no-workers`): the `worker` processes' lanes do its fresh ones at
        once, told by a notification at commit (whatsapp/fresh_jobs.py); their queue workers keep them as a
        fallback, deferred by `WAB_FAST_PATH_GRACE` seconds."""
        self.inline.enabled = False
        self.jobs.grace = self.settings.fast_path_grace_seconds
        # Past their capacity the grace grows with the lanes' lag, as they report it (jobs/lane_lag.py).
        self.lane_lag = LaneLag()
        self.jobs.lag = self.lane_lag.current
        self.jobs.announce = True

    def live(self) -> bool:
        """Whether real-time events of this process can reach a client now (see `has_listeners`)."""
        return has_listeners(self.publisher)

    def batcher(self, name: str, create: Callable[[], GroupCommit[T, R]]) -> GroupCommit[T, R]:
        """The process's group-commit batcher called `name`, made by `create` on first use."""
        found = self.batchers.get(name)
        if found is None:
            found = self.batchers[name] = create()
        return found

    @classmethod
    def create(cls, settings: Settings, database_url: str) -> AppContext:
        engine = create_engine(settings, database_url)
        sessions = create_session_factory(engine)
        secrets = SecretBox(settings.resolved_secret_key())
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.graph_api_timeout_seconds, connect=5.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )
        # The Graph API's own pool (whatsapp/graph_http.py); `http` serves the flows' HTTP nodes.
        graph_http = GraphHttp(timeout_seconds=settings.graph_api_timeout_seconds)
        return cls(
            settings=settings,
            database_url=database_url,
            engine=engine,
            sessions=sessions,
            secrets=secrets,
            active_config=ActiveConfigCache(sessions, secrets),
            jobs=JobQueue(database_url, pool_size=settings.worker_concurrency + 2),
            # Plain psycopg for the hot paths (webhooks, flow steps, deliveries): a transaction through it costs
            # half the CPU of one through an ORM session (bench: 0.30 against 0.62 ms for BEGIN, a query, COMMIT).
            hot_pool=psycopg_pool.AsyncConnectionPool(
                libpq_url(database_url),
                min_size=1,
                max_size=settings.db_hot_pool_size,
                timeout=settings.db_connect_timeout_seconds,
                # A prepared statement's cached generic plan outlives the table sizes it was made for: planned
                # while a new database's `messages` was nearly empty, it kept scanning the whole table thousands
                # of rows later (bench: a 37 ms flow claim). The hot paths only look rows up by key, so their
                # plans never scan a table whole. With that settled, they always use the generic plan: by default
                # PostgreSQL planned most of them again at every execution (their arrays' sizes vary), which
                # pg_stat_statements showed as a third of its time at low rates (bench: 1.6 to 1.4 ms of
                # PostgreSQL CPU per message at 400 msg/s, 6.9 to 6.5 at 100). No JIT: a statement that must scan
                # (the minute's window closing) costs over jit_above_cost with seq scans "off", and compiling it
                # took 113 ms each time for a 0.5 ms scan.
                kwargs={"options": "-c enable_seqscan=off -c plan_cache_mode=force_generic_plan -c jit=off"},
                configure=_configure_hot_connection,
                open=False,
            ),
            http=http,
            graph_http=graph_http,
            graph=GraphClient(graph_http, settings.graph_api_url, settings.graph_api_version),
        )

    async def open(self) -> None:
        await self.jobs.open()
        await self.hot_pool.open()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of the hot-path pool in a transaction: committed when the block ends, rolled back when
        it raises."""
        await self.hot_pool.open()  # no-op once open; a context used without open() opens it here
        try:
            async with self.hot_pool.connection() as connection:
                yield connection
        except psycopg.OperationalError:
            self._check_hot_pool_soon()
            raise

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of the hot-path pool in autocommit mode: each statement is its own transaction, with no
        BEGIN/COMMIT round trips."""
        await self.hot_pool.open()
        try:
            async with self.hot_pool.connection() as connection:
                await connection.set_autocommit(True)
                try:
                    yield connection
                finally:
                    try:
                        await connection.set_autocommit(False)
                    except psycopg.Error:
                        # Never hand an autocommit connection to a transaction(); the pool replaces it.
                        await connection.close()
        except psycopg.OperationalError:
            self._check_hot_pool_soon()
            raise

    def _check_hot_pool_soon(self) -> None:
        """After a connection failed (the database restarted, or a failover), test the pool's idle connections in
        the background and replace the broken ones, so that each is not found broken by a transaction of its own."""
        if self._pool_check is None or self._pool_check.done():
            self._pool_check = asyncio.get_running_loop().create_task(self._check_hot_pool())

    async def _check_hot_pool(self) -> None:
        with contextlib.suppress(psycopg.Error, psycopg_pool.PoolClosed, OSError):
            await self.hot_pool.check()

    async def close(self) -> None:
        await self.refusals.close()
        for batcher in self.batchers.values():
            await batcher.close()
        await self.statistics.close()
        await self.inline.close()
        await self.jobs.close()
        await self.hot_pool.close()
        await self.http.aclose()
        await self.graph_http.close()
        await self.engine.dispose()
