"""`worker --health-port`: a `/healthz` for service managers and load balancers to probe a worker by.

A worker has no HTTP server of its own, so a supervisor could only see that its process exists, not that it
reaches the database or that its job loop runs (it stops and starts again by itself after a database outage:
jobs/tasks.py). This answers both, in the shape of `serve`'s `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from whatsapp_builder.core.context import AppContext

# A probe must answer within a service manager's timeout (Kubernetes: 1 s by default), database or not.
DATABASE_CHECK_SECONDS = 0.8


class JobLoopState:
    """Whether the worker's job loop runs now, or waits to start again (after its database connection failed)."""

    def __init__(self) -> None:
        self.running = False


def health_app(context: AppContext, jobs: JobLoopState) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        database = "ok"
        try:
            async with asyncio.timeout(DATABASE_CHECK_SECONDS), context.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            database = "unreachable"
        loop = "running" if jobs.running else "restarting"
        healthy = database == "ok" and jobs.running
        body = {"status": "ok" if healthy else "degraded", "database": database, "jobs": loop}
        return JSONResponse(body, status_code=200 if healthy else 503)

    return Starlette(routes=[Route("/healthz", healthz)])


class _ProbeServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGTERM and Ctrl+C are the worker's: they stop its jobs gracefully (cli.py), then this


async def serve_health(context: AppContext, jobs: JobLoopState, listener: socket.socket) -> None:
    """Answer `/healthz` on `listener` until cancelled."""
    config = uvicorn.Config(health_app(context, jobs), log_config=None, access_log=False, lifespan="off")
    await _ProbeServer(config).serve(sockets=[listener])
