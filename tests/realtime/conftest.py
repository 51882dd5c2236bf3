"""Fixtures for the real-time tests (helpers in rtkit.py)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from whatsapp_builder.core.context import AppContext

from .rtkit import Client, RealtimeServer


@pytest.fixture
async def realtime_server(app_context: AppContext) -> AsyncIterator[RealtimeServer]:
    # A context of its own (same engine and pool), without Redis whatever the environment says, and with batchers
    # of its own: an earlier test's were made for another context, whose publisher is not this server's.
    context = dataclasses.replace(
        app_context, settings=app_context.settings.model_copy(update={"redis_url": None}), batchers={}
    )
    server = await RealtimeServer(context).start()
    yield server
    await server.stop()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[str, Any], Awaitable[Client]]]:
    clients: list[Client] = []

    async def make(url: str, auth: Any) -> Client:
        client = Client()
        clients.append(client)
        await client.connect(url, auth)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(Exception):
            await client.sio.disconnect()
