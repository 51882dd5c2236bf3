"""A delay node through the whole loop: the timer is a durable job row, and the rest of the flow waits for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import psycopg

from .runtimekit import bodies, contexts, edge, node, outbound_settled, publish_bot


async def test_delay_node_schedules_a_durable_timer_and_resumes(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    nodes = [node("start", "start", triggerKeywords=["wait"]), node("first", "message", text="First"),
             node("pause", "delay", seconds=1), node("second", "message", text="Second")]
    bot = await publish_bot(client, "Patient", nodes,
                            [edge("start", "first"), edge("first", "pause"), edge("pause", "second")])

    before = dt.datetime.now(dt.UTC)
    await loop.say({"text": "wait"})
    sent = await loop.wait_sent(1)
    assert bodies(sent) == ["First"]

    with psycopg.connect(database_url) as conn:
        timers = conn.execute(
            "SELECT queue_name, status::text, args, scheduled_at, scheduled_at > now() FROM procrastinate_jobs"
            " WHERE task_name = 'resume_delay'"
        ).fetchall()
    assert len(await loop.sent()) == 1  # the timer is still in the future, so nothing else went out yet
    assert len(timers) == 1, timers
    queue, status, args, scheduled_at, in_future = timers[0]
    assert status == "todo" and in_future is True
    assert scheduled_at >= before + dt.timedelta(seconds=1)
    (context,) = contexts(database_url)
    assert args == {"conversation_id": str(context["conversationId"]), "context_id": str(context["id"])}
    assert queue == "timers"
    assert context["isActive"] and context["currentNodeId"] == "pause"
    assert context["engineState"]["waiting"] == "delay" and context["chatbotId"] == bot["id"]

    sent = await loop.wait_sent(2, limit=15)
    assert bodies(sent) == ["First", "Second"]
    second_at = dt.datetime.fromisoformat(sent[1]["receivedAt"])
    assert second_at - before >= dt.timedelta(seconds=1)
    assert dt.datetime.fromisoformat(sent[1]["receivedAt"]) >= scheduled_at

    async def done() -> object:
        (row,) = contexts(database_url)
        return not row["isActive"] and outbound_settled(database_url) and row

    finished = await waiter(done, message="the context completed")
    assert isinstance(finished, dict)
    assert finished["engineState"]["endedReason"] == "completed"
    assert finished["nodeHistory"] == ["start", "first", "pause", "second"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'resume_delay'"
                            " AND status IN ('todo', 'doing')").fetchone() == (0,)
    assert len(await loop.sent()) == 2


async def test_restart_during_a_delay_leaves_the_old_timer_without_effect(
    loop: Any, client: httpx.AsyncClient, database_url: str, waiter: Any
) -> None:
    nodes = [node("start", "start", triggerKeywords=["wait"]), node("first", "message", text="First"),
             node("pause", "delay", seconds=1), node("second", "message", text="Second")]
    await publish_bot(client, "Patient", nodes,
                      [edge("start", "first"), edge("first", "pause"), edge("pause", "second")])

    await loop.say({"text": "wait"})
    await loop.wait_sent(1)
    await loop.say({"text": "what?"})  # ignored during the delay
    await loop.say({"text": "restart"})
    await loop.wait_sent(2)

    async def all_done() -> object:
        with psycopg.connect(database_url) as conn:
            timers = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'resume_delay'"
                                  " AND status IN ('todo', 'doing')").fetchone()
        rows = contexts(database_url)
        return timers == (0,) and len(rows) == 2 and not rows[1]["isActive"] and outbound_settled(database_url)

    await waiter(all_done, limit=15, message="both timers fired and the new context completed")
    assert bodies(await loop.sent()) == ["First", "First", "Second"]
    old, new = contexts(database_url)
    assert old["engineState"]["endedReason"] == "restart" and old["nodeHistory"] == ["start", "first", "pause"]
    assert new["engineState"]["endedReason"] == "completed"
    assert new["nodeHistory"] == ["start", "first", "pause", "second"]
