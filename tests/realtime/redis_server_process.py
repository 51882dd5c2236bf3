"""A server process for the fan-out test: the app + Socket.IO with Redis, on an inherited listening socket.

Usage: python redis_server_process.py DATABASE_URL REDIS_URL CHANNEL FD DATA_DIR

It adds `POST /_test/publish` ({"name", "payload", "rooms"}) so the test can make this process publish.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from fastapi import Body

from whatsapp_builder.app import create_app
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.realtime.after_commit import install_event_hooks
from whatsapp_builder.realtime.events import RealtimeEvent
from whatsapp_builder.realtime.server import create_realtime
from whatsapp_builder.settings import Settings


def main() -> None:
    database_url, redis_url, channel, fd, data_dir = sys.argv[1:6]
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=data_dir,
        secret_key="test-secret-key",
        log_level="WARNING",
    )
    context = AppContext.create(settings, database_url)
    realtime = create_realtime(context, channel=channel)
    context.publisher = realtime
    install_event_hooks(context.sessions, realtime)
    app = create_app(context, own_context=True)

    @app.post("/_test/publish")
    async def publish(body: dict[str, Any] = Body(...)) -> dict[str, bool]:
        await realtime.publish([RealtimeEvent(body["name"], body["payload"], tuple(body["rooms"]))])
        return {"ok": True}

    sock = socket.socket(fileno=int(fd))
    config = uvicorn.Config(realtime.wrap(app), log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
