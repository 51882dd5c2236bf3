"""Two workers and a burst of messages in one conversation: every message is handled exactly once, on the
state the previous one left, and the replies reach the customer in that same order."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import httpx
import psycopg

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows import (
    ContactInfo,
    EngineSettings,
    FlowInput,
    HttpRequestSpec,
    HttpResult,
    compile_graph,
    run_turn,
)
from whatsapp_builder.jobs.tasks import run_worker

from .runtimekit import bodies, contexts, edge, node, outbound_settled, publish_bot

NODES = [
    node("start", "start", triggerKeywords=["chat"]),
    node("ask", "question", text="Say something", variable="said", validation={"type": "text"}),
    node("echo", "message", text="You said {{said}}"),
    node("back", "jump", targetNodeId="ask"),
]
EDGES = [edge("start", "ask"), edge("ask", "echo"), edge("echo", "back")]
BURST = [f"message {i}" for i in range(1, 6)]


class NoHttp:
    async def perform(self, request: HttpRequestSpec) -> HttpResult:
        raise AssertionError("this flow makes no HTTP request")


async def sequential(inputs: list[str]) -> tuple[list[str], list[str], dict[str, Any]]:
    """What the engine does with these inputs one after the other: replies, node history, variables."""
    graph = compile_graph(NODES, EDGES)
    state = None
    replies: list[str] = []
    for text in inputs:
        result = await run_turn(graph, state, FlowInput(kind="text", text=text),
                                contact=ContactInfo(name="Alice", phone="+15551234567"),
                                now=dt.datetime.now(dt.UTC), settings=EngineSettings(), http=NoHttp())
        replies += [m.content["body"] for m in result.outgoing]
        state = result.state
    assert state is not None
    return replies, state.node_history, state.variables


async def test_a_burst_in_one_conversation_with_two_workers(
    loop: Any, client: httpx.AsyncClient, app_context: AppContext, database_url: str, waiter: Any
) -> None:
    second_worker = asyncio.create_task(run_worker(app_context, concurrency=4, name="w2"))
    try:
        await publish_bot(client, "Echo", NODES, EDGES)

        async def two_workers_live() -> bool:
            with psycopg.connect(database_url) as conn:
                return conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone() == (2,)

        await waiter(two_workers_live, message="both workers registered")
        await loop.say({"text": "chat"})
        assert bodies(await loop.wait_sent(1)) == ["Say something"]

        await asyncio.gather(*(loop.say({"text": text}) for text in BURST))
        sent = await loop.wait_sent(1 + 2 * len(BURST))

        async def settled() -> bool:
            return outbound_settled(database_url)

        await waiter(settled, message="every job done")
    finally:
        second_worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await second_worker

    # The order the runner handled the burst in, from the echoes it stored (in the outbox's own order).
    with psycopg.connect(database_url) as conn:
        stored = [str(row[0]) for row in conn.execute(
            "SELECT content->>'body' FROM messages WHERE direction = 'outbound' ORDER BY \"timestamp\", id")]
        inbound = conn.execute("SELECT count(*) FROM messages WHERE direction = 'inbound'").fetchone()
    assert inbound == (1 + len(BURST),)
    handled = [body.removeprefix("You said ") for body in stored if body.startswith("You said ")]
    assert sorted(handled) == sorted(BURST), stored  # each message exactly once: none lost, none twice

    expected_replies, expected_history, expected_variables = await sequential(["chat", *handled])
    assert stored == expected_replies
    assert bodies(sent) == expected_replies  # delivered in the order they were produced, never interleaved
    assert len(await loop.sent()) == len(expected_replies)

    (context,) = contexts(database_url)
    assert context["isActive"] and context["currentNodeId"] == "ask"
    assert context["nodeHistory"] == expected_history
    assert context["variables"]["said"] == expected_variables["said"] == handled[-1]
