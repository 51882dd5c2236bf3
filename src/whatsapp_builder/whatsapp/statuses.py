"""Delivery statuses only move forward: pending < sent < delivered < failed < read < played.

Meta delivers statuses at least once and in any order (`read` may come before `delivered`, which may never
come). A `failed` after `delivered` is rare but real; a message that was read stays read. `played` (a voice
message listened to) comes after `read`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from whatsapp_builder.whatsapp.error_titles import error_title

STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "failed": 3, "read": 4, "played": 5}


@dataclass(frozen=True)
class ReducedStatus:
    status: str
    error: dict[str, Any] | None


def normalize_status(status: str) -> str | None:
    return status if status in STATUS_RANK else None


# A `failed` status should carry `errors[]`; one without still failed, and the inbox has to say something.
UNEXPLAINED_FAILURE: dict[str, Any] = {
    "code": "unexplained",
    "title": "WhatsApp reported the message failed without saying why",
    "message": None,
    "details": None,
    "source": "whatsapp",
}


def error_from_status(errors: list[dict[str, Any]]) -> dict[str, Any]:
    if not errors:
        return dict(UNEXPLAINED_FAILURE)
    first = errors[0]
    return {
        "code": first.get("code"),
        # Meta's status errors carry a title; one without gets what a failed send would have.
        "title": first.get("title") or error_title(first.get("code"), first.get("message")),
        "message": first.get("message"),
        "details": first.get("details"),
        "source": "whatsapp",
    }


def reduce_statuses(items: Iterable[tuple[str, str, list[dict[str, Any]]]]) -> dict[str, ReducedStatus]:
    """The furthest status per WhatsApp id in one batch (a batch may carry sent, delivered and read at once)."""
    best: dict[str, ReducedStatus] = {}
    for wamid, raw_status, errors in items:
        status = normalize_status(raw_status)
        if status is None:
            continue
        current = best.get(wamid)
        if current is None or STATUS_RANK[status] > STATUS_RANK[current.status]:
            best[wamid] = ReducedStatus(status, error_from_status(errors) if status == "failed" else None)
    return best


# A status that arrives before its send is recorded, and the sender recording it, serialise on a lock per
# WhatsApp id (see ingest.settle_missing_statuses): whichever commits second sees the other's row. Ids share
# WAMID_LOCK_BUCKETS advisory locks of their own class, so a webhook with thousands of unknown ids (Meta sends
# up to about 1,000 updates a POST, and concurrent POSTs share a transaction) takes at most that many locks:
# one lock per id overflowed PostgreSQL's shared lock table ("out of shared memory") and refused the webhook.
WAMID_LOCK_CLASS = 0x5741_4201
WAMID_LOCK_BUCKETS = 256
_LOCK_WAMIDS = (
    "SELECT pg_advisory_xact_lock(%s, b) FROM (SELECT DISTINCT (hashtextextended(w, 0) & %s)::int AS b"
    " FROM unnest(%s::text[]) AS w) AS buckets ORDER BY b"  # one order for everyone: no deadlock
)


async def lock_wamids(conn: AsyncConnection[Any], wamids: Iterable[str]) -> None:
    """Take (until the transaction ends) the locks of these WhatsApp ids' buckets."""
    await conn.execute(_LOCK_WAMIDS, (WAMID_LOCK_CLASS, WAMID_LOCK_BUCKETS - 1, list(wamids)))
