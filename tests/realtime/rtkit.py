"""Helpers for the real-time tests: the app with Socket.IO served by uvicorn on loopback, and real clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

import httpx
import socketio
import uvicorn

from whatsapp_builder.app import create_app
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.realtime.server import Realtime


async def wait_for_health(url: str, limit: float = 20.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `GET {url}/healthz` until it answers 200 (no fixed sleeps: a short poll with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            if not alive():
                raise AssertionError(f"the server behind {url} exited before answering")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            if loop.time() > deadline:
                raise AssertionError(f"{url}/healthz did not answer within {limit}s")
            await asyncio.sleep(0.05)


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class RealtimeServer:
    """The app with its Socket.IO server, as `serve` builds it (`create_asgi`), served by uvicorn in the test's
    event loop: what the app publishes reaches the clients connected here."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        inner = create_app(context)
        self.realtime: Realtime = inner.state.realtime
        self.app = self.realtime.wrap(inner)
        self._sock = bound_socket()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> RealtimeServer:
        self.task = asyncio.create_task(self.server.serve(sockets=[self._sock]))
        await wait_for_health(self.url, alive=lambda: self.task is not None and not self.task.done())
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=10)
        self._sock.close()
        await self.realtime.close()


class Client:
    """A real socketio.AsyncClient that records every event it receives, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.connect_errors: list[Any] = []

        async def record(event: str, *args: Any) -> None:
            await self.events.put((event, args[0] if len(args) == 1 else list(args)))

        async def connect_error(data: Any = None) -> None:
            self.connect_errors.append(data)

        self.sio.on("*", record)
        self.sio.on("connect_error", connect_error)

    async def connect(self, url: str, auth: Any) -> None:
        await self.sio.connect(url, auth=auth, socketio_path="socket.io", transports=["websocket"], wait_timeout=10)

    async def next_event(self, limit: float = 10.0) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout=limit)

    async def call(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, timeout=10)
