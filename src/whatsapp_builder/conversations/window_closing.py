"""The 24-hour window closes with time, not with a change: a minute's maintenance job tells the live inbox.

`isWindowOpen` is computed from the clock on every read, so REST shows a closed window at once; an open inbox
only learns of it from a `conversation:updated` (docs/realtime.md), which nothing else would send.
"""

from __future__ import annotations

import datetime as dt
import uuid

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.conversations.window import WINDOW
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.realtime import events

_CLOSED = (
    'UPDATE conversations SET "isWindowOpen" = false, "updatedAt" = now()'
    ' WHERE "lastCustomerMessageAt" > %s AND "lastCustomerMessageAt" <= %s RETURNING id'
)


async def announce_closed_windows(context: AppContext, since: dt.datetime, until: dt.datetime) -> list[uuid.UUID]:
    """The conversations whose window closed in (since, until]: their stored flag is cleared and, when anyone
    listens, a `conversation:updated` goes out for each. Returns them."""
    async with context.transaction() as conn:
        closed = [row[0] for row in await (await conn.execute(_CLOSED, (since - WINDOW, until - WINDOW))).fetchall()]
        snapshots = await conversation_snapshots(conn, closed) if closed and context.live() else []
    if snapshots:
        await context.publisher.publish([events.conversation_updated(s) for s in snapshots])
    return closed
