"""Operators watching the inbox during part b: python-socketio clients connected with the API token, each in the
inbox room (every operator is), counting the live events the server sends them."""

from __future__ import annotations

import collections
from typing import Any

import socketio


class InboxClients:
    def __init__(self, url: str, token: str, count: int) -> None:
        self.url, self.token, self.count = url, token, count
        self.clients: list[socketio.AsyncClient] = []
        self.events: collections.Counter[str] = collections.Counter()

    async def start(self) -> None:
        for _ in range(self.count):
            client = socketio.AsyncClient(reconnection=False)

            async def on_any(event: str, *args: Any) -> None:
                self.events[event] += 1

            client.on("*", on_any)
            await client.connect(self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=10)
            self.clients.append(client)

    def take(self) -> dict[str, int]:
        """The events received since the last call, by name."""
        taken = dict(self.events)
        self.events.clear()
        return taken

    async def stop(self) -> None:
        for client in self.clients:
            await client.disconnect()
        self.clients.clear()
