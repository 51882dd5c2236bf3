"""A conversation's turn lock: held by whoever may change what its bot is doing, for a transaction.

A PostgreSQL advisory lock of its own class, keyed by hashtext of the conversation id (two conversations that
share a key only wait for each other). The flow runner holds it for each conversation it runs a turn of
(flows/runner.py); an operator's take-over or hand-back takes it too, so that it never interleaves with a turn.
It is not the conversation's row lock, which the webhook's ingest needs for every customer message: a turn may
wait many seconds on an HTTP request node, and must not hold up the webhooks meanwhile.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

FLOW_LOCK_CLASS = 0x5741_4202


async def wait_turn_lock(conn: AsyncConnection[Any], conversation_id: uuid.UUID) -> None:
    """Take (until the transaction ends) the conversation's turn lock, waiting for a turn under way."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s::text))", (FLOW_LOCK_CLASS, str(conversation_id)))
