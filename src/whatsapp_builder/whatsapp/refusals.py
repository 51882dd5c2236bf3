"""Webhook deliveries this process refused: a warning in the log, and on the config for the Settings page.

A refused delivery is Meta's (or a proxy's) problem to see, not ours, but the likeliest cause is ours: a wrong app
secret refuses every delivery, Meta retries them for days, and the inbox stays empty. So each kind of refusal is
logged at once, then at most once a `log_interval` with how many there were meanwhile (a flood of forged posts
cannot flood the log), and a signature mismatch is also written on the active config (at most once a
`flag_interval` per process once shown) until a delivery verifies again.
"""

from __future__ import annotations

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


@dataclass
class _Seen:
    logged_at: float
    since_logged: int = 0


@dataclass
class RefusedDeliveries:
    log_interval: float = 60.0
    flag_interval: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _flagged_at: float = float("-inf")

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

    async def signature_mismatch(self, context: AppContext, message: str, *, shown: bool) -> None:
        """A signed delivery whose signature does not match the active config's app secret; `shown`: whether the
        config already shows a refusal (then it is only brought up to date, at most once a `flag_interval`)."""
        self.note(SIGNATURE_MISMATCH, 403, message)
        now = self.clock()
        if shown and now - self._flagged_at < self.flag_interval:
            return
        self._flagged_at = now
        refusal = {"reason": SIGNATURE_MISMATCH, "message": message, "at": api_time(dt.datetime.now(dt.UTC))}
        async with context.autocommit() as conn:
            await conn.execute(
                'UPDATE whatsapp_config SET "lastWebhookRefusal" = %s WHERE "isActive"', (Jsonb(refusal),)
            )
        context.active_config.invalidate()

    async def verified(self, context: AppContext) -> None:
        """A delivery verified while the config shows a refusal: the app secret is right (again)."""
        self._flagged_at = float("-inf")
        async with context.autocommit() as conn:
            await conn.execute(
                'UPDATE whatsapp_config SET "lastWebhookRefusal" = NULL'
                ' WHERE "isActive" AND "lastWebhookRefusal" IS NOT NULL'
            )
        context.active_config.invalidate()
