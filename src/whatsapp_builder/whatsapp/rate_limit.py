"""The per-number send limit, shared by every worker through PostgreSQL.

A counter per (phone number id, second): one tiny upsert per send. When a second's budget is spent the
sender waits for the next second, so a burst is spread out instead of being refused by WhatsApp (130429).
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_TAKE = text(
    'INSERT INTO whatsapp_send_windows ("phoneNumberId", second, count) VALUES (:p, :s, :n)'
    ' ON CONFLICT ("phoneNumberId", second) DO UPDATE SET count = whatsapp_send_windows.count + :n'
    " RETURNING count"
)
_PRUNE = text("DELETE FROM whatsapp_send_windows WHERE second < :before")


async def take_send_slot(engine: AsyncEngine, phone_number_id: str, per_second: int) -> None:
    await take_send_slots(engine, phone_number_id, per_second, 1)


async def take_send_slots(engine: AsyncEngine, phone_number_id: str, per_second: int, wanted: int) -> None:
    """Wait until `wanted` sends fit in this number's per-second budget (spread over seconds when they do not)."""
    while wanted > 0:
        wanted -= await take_available_send_slots(engine, phone_number_id, per_second, wanted)


async def take_available_send_slots(engine: AsyncEngine, phone_number_id: str, per_second: int, wanted: int) -> int:
    """Up to `wanted` sends from this second's budget, to be sent now; when none is left, waits for a second that
    has some. Returns how many were granted (at least 1 when `wanted` is)."""
    while wanted > 0:
        second = int(time.time())
        # One autocommitted statement on an unlogged table (migration 0014): no transaction, no wait for the disk.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            count = int(
                (await autocommit.execute(_TAKE, {"p": phone_number_id, "s": second, "n": wanted})).scalar_one()
            )
        # The counter now includes all `wanted`: more than the budget only when the budget is spent, so it takes
        # nothing from anyone else this second.
        granted = max(0, min(wanted, per_second - (count - wanted)))
        if granted:
            return granted
        await asyncio.sleep(max(0.001, second + 1 - time.time()))
    return 0


async def prune_send_windows(engine: AsyncEngine, keep_seconds: int = 60) -> None:
    async with engine.begin() as connection:
        await connection.execute(_PRUNE, {"before": int(time.time()) - keep_seconds})
