"""The dashboard's figures per day: conversations started, completed, handed off; messages in and out;
delivery failures by reason. A few grouped queries over the indexed timestamps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# When the bot handed the conversation to a person: an operator's take-over stamps `handedOffAt`, which a hand-back
# keeps (the context runs again, without its `endedReason`); a flow's handoff node ends the context for good.
_HANDED_OFF_AT = (
    """CASE WHEN c."engineState" ? 'handedOffAt' THEN (c."engineState"->>'handedOffAt')::timestamptz"""
    """ WHEN c."engineState"->>'endedReason' = 'handoff' THEN c."updatedAt" END"""
)
_CONTEXTS = text(
    f"""
    SELECT d::date AS day,
           count(*) FILTER (WHERE c."createdAt" >= d AND c."createdAt" < d + interval '1 day') AS started,
           count(*) FILTER (WHERE c."engineState"->>'endedReason' = 'completed'
                              AND c."updatedAt" >= d AND c."updatedAt" < d + interval '1 day') AS completed,
           count(*) FILTER (WHERE h.at >= d AND h.at < d + interval '1 day') AS handed_off
      FROM generate_series(CAST(:since AS date), CAST(:until AS date), interval '1 day') AS d
      LEFT JOIN (conversation_contexts c CROSS JOIN LATERAL (SELECT {_HANDED_OFF_AT} AS at) h)
        ON (c."createdAt" >= d AND c."createdAt" < d + interval '1 day')
        OR (c."updatedAt" >= d AND c."updatedAt" < d + interval '1 day')
        OR (h.at >= d AND h.at < d + interval '1 day')
     GROUP BY d ORDER BY d
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
    for day, started, completed, handed_off in await session.execute(_CONTEXTS, {"since": since, "until": until}):
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
