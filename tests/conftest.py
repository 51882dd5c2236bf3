"""Fixtures shared by every test: a real PostgreSQL database, the app, an authenticated client.

The server is TEST_DATABASE_URL (or DATABASE_URL) when set, else an embedded PostgreSQL started for the run.
Each test session (each xdist worker) migrates a database of its own; each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from whatsapp_builder.app import create_app
from whatsapp_builder.auth.service import create_token
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.db import migrate
from whatsapp_builder.db.urls import libpq_url
from whatsapp_builder.settings import Settings
from whatsapp_builder.whatsapp.known_bsuids import KnownBsuids


def _server_url() -> str:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return libpq_url(configured)
    from whatsapp_builder.db.embedded import start_embedded_postgres

    data_dir = Path(tempfile.gettempdir()) / "whatsapp-builder-test-pg"
    data_dir.mkdir(exist_ok=True)
    return libpq_url(start_embedded_postgres(data_dir))


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class DatabaseFactory:
    """Creates throwaway databases on the test server (for migration tests that need an empty one)."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    def create(self, prefix: str = "wab_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_database(self.server_url, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_factory() -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(_server_url())
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def database_url(database_factory: DatabaseFactory) -> str:
    url = database_factory.create()
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=None,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key="test-secret-key",
        log_level="WARNING",
        send_retry_base_seconds=0.01,
        worker_poll_seconds=0.05,
        # Long enough that a loaded CI machine never times out a send the simulator took: a timed-out send is
        # retried (WhatsApp has no idempotency key), so the customer would get it twice.
        graph_api_timeout_seconds=5.0,
    )


def _user_tables(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
    ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture(autouse=True)
def clean_database(request: pytest.FixtureRequest) -> None:
    if "database_url" not in request.fixturenames:
        return
    url: str = request.getfixturevalue("database_url")
    with psycopg.connect(url, autocommit=True) as conn:
        tables = _user_tables(conn)
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    if "app_context" in request.fixturenames:
        context = request.getfixturevalue("app_context")
        context.active_config.invalidate()
        # What the process remembers of the database it was using: not of one emptied under it.
        context.known_bsuids = KnownBsuids()


@pytest.fixture(scope="session")
async def app_context(settings: Settings, database_url: str) -> AsyncIterator[AppContext]:
    context = AppContext.create(settings, database_url)
    await context.open()
    yield context
    await context.close()


@pytest.fixture
async def api_token(app_context: AppContext) -> str:
    async with app_context.sessions() as session:
        _, token = await create_token(session, "tests")
        await session.commit()
    return token


@pytest.fixture
async def anon_client(app_context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(app_context)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def client(anon_client: httpx.AsyncClient, api_token: str) -> httpx.AsyncClient:
    anon_client.headers["Authorization"] = f"Bearer {api_token}"
    return anon_client


class LiveServer:
    """The app served by uvicorn on a free loopback port, in the test's own event loop (it shares app_context)."""

    def __init__(self, app: object) -> None:
        import socket

        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> LiveServer:
        self.task = asyncio.create_task(self.server.serve(sockets=[self._sock]))
        await wait_until(lambda: self.server.started, limit=10)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=10)
        self._sock.close()


async def wait_until(predicate: Callable[[], object], limit: float = 10.0, message: str = "condition") -> None:
    """Poll `predicate` until it holds, or fail after `limit` seconds (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message} not met within {limit}s")
        await asyncio.sleep(0.01)


async def wait_until_async(
    predicate: Callable[[], Awaitable[object]], limit: float = 10.0, message: str = "condition"
) -> object:
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message} not met within {limit}s")
        await asyncio.sleep(0.02)


@pytest.fixture
def waiter() -> Callable[..., Awaitable[object]]:
    return wait_until_async


@pytest.fixture
async def running_workers(app_context: AppContext) -> AsyncIterator[None]:
    """The job workers, running in the test's event loop for the length of one test."""
    from whatsapp_builder.jobs.tasks import register_tasks, run_worker

    register_tasks(app_context)
    task = asyncio.create_task(run_worker(app_context, concurrency=4, name="test-worker"))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


SIMULATOR_APP_SECRET = "demo-app-secret"


@dataclass
class Loop:
    """Our server, the Cloud API simulator and the workers, all on loopback, with the demo installed."""

    server: LiveServer
    simulator: LiveServer
    http: httpx.AsyncClient
    chatbot_id: str

    async def say(self, payload: dict[str, object]) -> dict[str, object]:
        body = {"from": "+15551234567", "name": "Alice"} | payload
        response = await self.http.post(self.simulator.url + "/_simulator/inbound", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        assert result["status"] == 200, result
        return result

    async def sent(self) -> list[dict[str, object]]:
        response = await self.http.get(self.simulator.url + "/_simulator/messages")
        items: list[dict[str, object]] = response.json()["items"]
        return items

    async def wait_sent(self, count: int, limit: float = 15.0) -> list[dict[str, object]]:
        async def enough() -> list[dict[str, object]] | None:
            items = await self.sent()
            return items if len(items) >= count else None

        result = await wait_until_async(enough, limit=limit, message=f"{count} messages at the simulator")
        assert isinstance(result, list)
        return result


@pytest.fixture
async def loop(app_context: AppContext, running_workers: None) -> AsyncIterator[Loop]:
    from whatsapp_builder.app import create_asgi
    from whatsapp_builder.demo import install_demo
    from whatsapp_builder.simulator import SimulatorSettings, create_simulator_app

    server = await LiveServer(create_asgi(app_context)).start()
    simulator_settings = SimulatorSettings(
        webhook_url=server.url + "/webhooks/whatsapp", app_secret=SIMULATOR_APP_SECRET,
        webhook_retry_base_seconds=0.01,
    )
    simulator = await LiveServer(create_simulator_app(simulator_settings)).start()
    result = await install_demo(app_context, simulator.url)
    app_context.active_config.invalidate()
    # Like `serve`: workers, and the in-process fast path next to them.
    app_context.enable_fast_path()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield Loop(server, simulator, http, result.chatbot_id)
    finally:
        app_context.enable_fast_path(False)
        await app_context.inline.drain()
        await simulator.stop()
        await server.stop()
