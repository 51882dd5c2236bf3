"""Fixtures for the simulator tests: the simulator and a webhook receiver as real loopback servers.

Helpers reach the tests through fixtures (this file is not importable by module name).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from whatsapp_builder.simulator import SimulatorSettings, create_simulator_app
from whatsapp_builder.whatsapp.signature import SignatureCheck, verify

APP_SECRET = "test-app-secret"
ACCESS_TOKEN = "test-access-token"


class ServerThread:
    """Runs an ASGI app with uvicorn on a free loopback port in a background thread."""

    def __init__(self, app: Any, health_path: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._health_path = health_path

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + self._health_path, timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.01)  # polling interval while waiting for the server, bounded by the deadline
        raise RuntimeError(f"server on {self.url} did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass
class Received:
    body: bytes
    signature: str | None
    check: SignatureCheck
    payload: Any


@dataclass
class Receiver:
    """A tiny webhook endpoint that records (and signature-checks) what it receives."""

    secret: str = APP_SECRET
    items: list[Received] = field(default_factory=list)
    fail_next: int = 0
    hold: threading.Event | None = None  # while set to an unset event, the first POST waits for it
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ServerThread | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.post("/webhooks/whatsapp")
        async def webhook(request: Request) -> PlainTextResponse:
            body = await request.body()
            header = request.headers.get("x-hub-signature-256")
            hold, self.hold = self.hold, None
            if hold is not None:
                await asyncio.to_thread(hold.wait, 10)
            with self.lock:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    return PlainTextResponse("try again", status_code=500)
                self.items.append(Received(body, header, verify(body, header, self.secret), json.loads(body)))
            return PlainTextResponse("EVENT_RECEIVED")

        return app

    def statuses(self) -> list[dict[str, Any]]:
        with self.lock:
            items = list(self.items)
        out = []
        for item in items:
            for entry in item.payload["entry"]:
                for change in entry["changes"]:
                    out.extend(change["value"].get("statuses", []))
        return out


async def wait_for(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


def make_simulator(webhook_url: str, **overrides: Any) -> ServerThread:
    settings = SimulatorSettings(
        webhook_url=webhook_url,
        app_secret=APP_SECRET,
        access_token=ACCESS_TOKEN,
        webhook_retry_base_seconds=0.01,
        **overrides,
    )
    return ServerThread(create_simulator_app(settings), "/_simulator/health").start()


Waiter = Callable[..., Any]
SimulatorFactory = Callable[..., ServerThread]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.server = ServerThread(rec.app(), "/health").start()
    yield rec
    rec.server.stop()


@pytest.fixture
def webhook_url(receiver: Receiver) -> str:
    assert receiver.server is not None
    return receiver.server.url + "/webhooks/whatsapp"


@pytest.fixture
def simulator(webhook_url: str) -> Iterator[ServerThread]:
    server = make_simulator(webhook_url)
    yield server
    server.stop()


@pytest.fixture
def make_sim() -> Iterator[SimulatorFactory]:
    started: list[ServerThread] = []

    def factory(url: str, **overrides: Any) -> ServerThread:
        server = make_simulator(url, **overrides)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def wait() -> Waiter:
    return wait_for
