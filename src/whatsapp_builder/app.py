"""The ASGI app factory: FastAPI (REST API, webhooks, health) with error handlers and body caps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from whatsapp_builder.auth.deps import ApiAuthentication, require_token
from whatsapp_builder.auth.router import router as tokens_router
from whatsapp_builder.chatbots.router import flows_router
from whatsapp_builder.chatbots.router import router as chatbots_router
from whatsapp_builder.conversations.router import router as conversations_router
from whatsapp_builder.conversations.router import stats_router
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.deps import ContextDep
from whatsapp_builder.core.errors import API_ERROR_RESPONSES, document_route_errors, install_error_handlers
from whatsapp_builder.core.limits import BodySizeLimit
from whatsapp_builder.jobs.tasks import keep_worker_running, register_tasks
from whatsapp_builder.realtime.after_commit import install_event_hooks
from whatsapp_builder.realtime.server import Realtime, create_realtime
from whatsapp_builder.users.router import router as users_router
from whatsapp_builder.webui_routes import install_api_docs, install_webui
from whatsapp_builder.whatsapp.config_router import router as whatsapp_config_router
from whatsapp_builder.whatsapp.webhook_intake import WebhookLane
from whatsapp_builder.whatsapp.webhook_router import router as webhook_router


class WhatsAppBuilderApp(FastAPI):
    """FastAPI, with webhook deliveries answered ahead of its middleware and routing (`WebhookLane`)."""

    def __init__(self, webhook_lane: WebhookLane, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_lane = webhook_lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if WebhookLane.matches(scope):
            await self.webhook_lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


WORKER_STOP_SECONDS = 30.0


def create_app(context: AppContext, *, own_context: bool = False, run_workers: bool = False) -> FastAPI:
    """Build the app around `context`.

    With `own_context` the app opens the context when it starts and closes it when it stops; with `run_workers`
    it also runs the job workers in its own event loop (what `serve` does unless told `--no-workers`).
    """

    if run_workers:
        # This process does jobs: let it do a conversation's fresh jobs at once (jobs/inline.py).
        context.enable_fast_path()
    realtime = create_realtime(context)
    context.publisher = realtime
    install_event_hooks(context.sessions, realtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if own_context:
            await context.open()
        worker: asyncio.Task[None] | None = None
        if run_workers:
            # The fast path does this process's own fresh jobs; waking the workers on each one would only
            # make them race it. They poll for the rest (retries, timers, jobs from other processes).
            worker = asyncio.create_task(keep_worker_running(context, name="serve-worker", listen=False))
        elif context.lane_lag is not None:
            # `serve --no-workers`: hear how far behind the workers' lanes are (jobs/lane_lag.py).
            worker = asyncio.create_task(context.lane_lag.listen(context.database_url))
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                # Its running jobs finish first; but a stop must end, whatever the database does meanwhile.
                stopped, _pending = await asyncio.wait({worker}, timeout=WORKER_STOP_SECONDS)
                for task in stopped:
                    if not task.cancelled():
                        task.exception()  # retrieved: it ended as asked, whatever it raised on the way
            if own_context:
                await realtime.close()
                await context.close()

    app = WhatsAppBuilderApp(
        WebhookLane(context),
        title="WhatsApp Builder",
        version="0.1.0",
        description="Design WhatsApp chatbot flows, run them on the Cloud API, and answer customers live.",
        lifespan=lifespan,
        docs_url=None,  # install_api_docs: Swagger UI served from here, not a CDN
    )
    app.state.context = context
    app.state.realtime = realtime
    install_error_handlers(app)
    register_tasks(context)

    @app.get("/healthz", tags=["health"])
    async def healthz(ctx: ContextDep) -> JSONResponse:
        try:
            async with ctx.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "degraded", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)  # uptime checks use HEAD

    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=API_ERROR_RESPONSES)
    for router in (
        users_router,
        chatbots_router,
        flows_router,
        conversations_router,
        stats_router,
        whatsapp_config_router,
        tokens_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(webhook_router)
    install_api_docs(app)
    install_webui(app)  # last: it answers every path the API does not
    framework_openapi = app.openapi
    app.openapi = lambda: document_route_errors(framework_openapi())  # type: ignore[method-assign]

    settings = context.settings
    # The web app's files compress about four to one; small JSON answers (webhooks, APIs) stay as they are.
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(
        BodySizeLimit,
        caps=[("/webhooks/", settings.webhook_max_body_bytes)],
        default=settings.api_max_body_bytes,
    )
    # Outermost (added last): an /api request without a valid token is a 401 before its body is read or parsed.
    app.add_middleware(ApiAuthentication, context=context)
    return app


def create_asgi(context: AppContext, *, own_context: bool = False, run_workers: bool = False) -> ASGIApp:
    """The app with Socket.IO mounted at /socket.io: what `serve` runs."""
    app = create_app(context, own_context=own_context, run_workers=run_workers)
    realtime: Realtime = app.state.realtime
    return realtime.wrap(app)
