"""Webhook deliveries this process refused: a warning in the log, and on the config for the Settings page.

A refused delivery is Meta's (or a proxy's) problem to see, not ours, but the likeliest cause is ours: a wrong app
secret refuses every delivery, Meta retries them for days, and the inbox stays empty. So each kind of refusal is
logged at once, then at most once a `log_interval` with how many there were meanwhile (a flood of forged posts
cannot flood the log), and a signature mismatch is also shown on the active config until a delivery verifies.

Showing and clearing it are database writes that no request waits for: anyone can post a forged signature, and
a request that wrote (or waited for a row lock, or a database that is down) would let forged posts slow down or
fail Meta's real deliveries. One task per process writes the latest wanted state, at most once a
`write_interval`, whatever the traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from whatsapp_builder.core.schemas import api_time
from whatsapp_builder.logging import get_logger

if TYPE_CHECKING:
    from whatsapp_builder.core.context import AppContext

log = get_logger(__name__)

SIGNATURE_MISMATCH = "signature_mismatch"
WRITE_TIMEOUT_SECONDS = 5.0

_CLEAR: dict[str, Any] = {}
"""The wanted state "no refusal shown" (a refusal is a non-empty dict)."""


@dataclass
class _Seen:
    logged_at: float
    since_logged: int = 0


@dataclass
class RefusedDeliveries:
    log_interval: float = 60.0
    write_interval: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _wanted: dict[str, Any] | None = None  # None: nothing to write
    _written_at: float = float("-inf")
    _writer: asyncio.Task[None] | None = None
    _closed: bool = False

    def note(self, reason: str, status: int, message: str, *, event: str = "webhook delivery refused") -> None:
        """Log a refusal: the first of its kind at once, later ones at most once a `log_interval`, counted."""
        now = self.clock()
        seen = self._seen.get(reason)
        if seen is not None and now - seen.logged_at < self.log_interval:
            seen.since_logged += 1
            return
        also = seen.since_logged if seen is not None else 0
        self._seen[reason] = _Seen(logged_at=now)
        fields: dict[str, Any] = {"reason": reason, "status": status, "why": message}
        if also:
            fields["more_since_last_logged"] = also
        log.warning(event, **fields)

    def signature_mismatch(self, context: AppContext, message: str, *, shown: bool) -> None:
        """A signed delivery whose signature does not match the active config's app secret; `shown`: whether the
        config (as this process last read it) shows a refusal already, which is then only brought up to date."""
        self.note(SIGNATURE_MISMATCH, 403, message)
        if shown and self._wanted is None and self.clock() - self._written_at < self.write_interval:
            return
        self._want(context, {"reason": SIGNATURE_MISMATCH, "message": message, "at": api_time(dt.datetime.now(dt.UTC))})

    def reset(self) -> None:
        """The config was saved here: what waits to be written was judged against the one it replaced."""
        self._wanted = None

    def verified(self, context: AppContext) -> None:
        """A delivery verified while the config shows a refusal: the app secret is right (again)."""
        self._want(context, _CLEAR)

    def _want(self, context: AppContext, state: dict[str, Any]) -> None:
        if self._closed:
            return
        self._wanted = state
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write(context))

    async def _write(self, context: AppContext) -> None:
        while self._wanted is not None:
            wait = self._written_at + self.write_interval - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)  # forged and real posts in turn: still one write an interval
            state, self._wanted = self._wanted, None
            self._written_at = self.clock()
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_SECONDS), context.autocommit() as conn:
                    if state is _CLEAR:
                        await conn.execute(
                            'UPDATE whatsapp_config SET "lastWebhookRefusal" = NULL'
                            ' WHERE "isActive" AND "lastWebhookRefusal" IS NOT NULL'
                        )
                    else:  # not on a config saved since (by another process: this one's reset() drops it)
                        await conn.execute(
                            'UPDATE whatsapp_config SET "lastWebhookRefusal" = %s WHERE "isActive"'
                            ' AND "updatedAt" <= %s::timestamptz',
                            (Jsonb(state), state["at"]),
                        )
            except Exception as exc:  # the database down or slow: the next refusal or delivery tries again
                self.note("refusal_not_shown", 0, f"could not write lastWebhookRefusal: {exc!r}"[:300])
                continue
            context.active_config.invalidate()

    async def close(self) -> None:
        """Stop writing (a write waiting for its interval is dropped: the next refusal shows it again)."""
        self._closed = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
