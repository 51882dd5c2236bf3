"""The dashboard's figures per day: conversations started, completed, handed off; messages in and out;
delivery failures by reason. A few grouped queries over the indexed timestamps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Each context's events with their times, bucketed by UTC day in one pass over the contexts: started (createdAt),
# completed (updatedAt when it ended so), handed off (an operator's take-over stamps `handedOffAt`, which a
# hand-back keeps while the context runs again; a flow's handoff node ends the context: updatedAt). Every one of
# these times is at most updatedAt, which narrows the scan.
_CONTEXTS = text(
    """
    SELECT (e.at AT TIME ZONE 'UTC')::date AS day,
           count(*) FILTER (WHERE e.kind = 'started') AS started,
           count(*) FILTER (WHERE e.kind = 'completed') AS completed,
           count(*) FILTER (WHERE e.kind = 'handed_off') AS handed_off
      FROM conversation_contexts c
     CROSS JOIN LATERAL (VALUES
           ('started', c."createdAt"),
           ('completed', CASE WHEN c."engineState"->>'endedReason' = 'completed' THEN c."updatedAt" END),
           ('handed_off', CASE WHEN c."engineState" ? 'handedOffAt'
                               THEN (c."engineState"->>'handedOffAt')::timestamptz
                               WHEN c."engineState"->>'endedReason' = 'handoff' THEN c."updatedAt" END)
           ) AS e(kind, at)
     WHERE c."updatedAt" >= :since AND e.at >= :since AND e.at < :until
     GROUP BY 1
    """
)
_MESSAGES = text(
    """
    SELECT date_trunc('day', "timestamp" AT TIME ZONE 'UTC')::date AS day,
           count(*) FILTER (WHERE direction = 'inbound') AS incoming,
           count(*) FILTER (WHERE direction = 'outbound') AS outgoing
      FROM messages WHERE "timestamp" >= :since
     GROUP BY 1
    """
)
_FAILURES = text(
    """
    SELECT error->>'code' AS code, max(error->>'title') AS title, count(*) AS count
      FROM messages WHERE status = 'failed' AND "timestamp" >= :since
     GROUP BY 1 ORDER BY 3 DESC LIMIT 20
    """
)


async def daily_overview(session: AsyncSession, days: int, today: dt.date | None = None) -> dict[str, Any]:
    until = today or dt.datetime.now(dt.UTC).date()
    since = until - dt.timedelta(days=days - 1)
    since_ts = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    per_day: dict[dt.date, dict[str, Any]] = {
        since + dt.timedelta(days=i): {
            "date": (since + dt.timedelta(days=i)).isoformat(),
            "conversationsStarted": 0,
            "completed": 0,
            "handedOff": 0,
            "messagesIn": 0,
            "messagesOut": 0,
        }
        for i in range(days)
    }
    until_ts = since_ts + dt.timedelta(days=days)
    for day, started, completed, handed_off in await session.execute(_CONTEXTS, {"since": since_ts, "until": until_ts}):
        if day in per_day:
            per_day[day] |= {"conversationsStarted": started, "completed": completed, "handedOff": handed_off}
    for day, incoming, outgoing in await session.execute(_MESSAGES, {"since": since_ts}):
        if day in per_day:
            per_day[day] |= {"messagesIn": incoming, "messagesOut": outgoing}
    failures = [
        {"code": code, "title": title, "count": count}
        for code, title, count in await session.execute(_FAILURES, {"since": since_ts})
    ]
    return {"days": list(per_day.values()), "failuresByReason": failures}
