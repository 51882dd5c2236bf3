"""The busy tables' planner statistics are refreshed while a young database fills up."""

from __future__ import annotations

import psycopg

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.statistics import MIN_GROWTH, TableStatistics


async def test_analyzes_after_enough_new_messages_and_not_for_a_trickle(app_context: AppContext) -> None:
    statistics = TableStatistics(app_context.autocommit)
    statistics.grew(MIN_GROWTH // 10)
    await statistics.idle()
    assert statistics.analyzed == 0
    statistics.grew(MIN_GROWTH)
    await statistics.idle()
    assert statistics.analyzed == 1
    statistics.grew(MIN_GROWTH // 10)  # counted from the last ANALYZE: not enough again
    await statistics.idle()
    assert statistics.analyzed == 1
    statistics.grew(MIN_GROWTH)
    await statistics.idle()
    assert statistics.analyzed == 2
    await statistics.close()


async def test_a_large_table_is_left_to_autovacuum(app_context: AppContext, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        # What the planner believes after a real ANALYZE of a large table.
        conn.execute("UPDATE pg_class SET reltuples = 5000000 WHERE oid = 'messages'::regclass")
    try:
        statistics = TableStatistics(app_context.autocommit)
        statistics.grew(MIN_GROWTH * 10)
        await statistics.idle()
        assert statistics.analyzed == 0
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ANALYZE messages")
