"""What a context's variables hold survives the turn it was stored in: the runner reads engine states back on the
hot pool's connections, whose JSON decoding must give back what was written."""

from __future__ import annotations

from typing import Any

import httpx

from .runtimekit import bodies, edge, node, publish_bot


async def test_a_long_number_answered_is_shown_as_typed_in_a_later_turn(
    loop: Any, client: httpx.AsyncClient, database_url: str
) -> None:
    # A tracking number of 22 digits, asked as a number: past 64 bits, a float would show 1.2345678901234568e+21.
    nodes = [node("start", "start", triggerKeywords=["track"]),
             node("q", "question", text="Your tracking number?", variable="ref", validation={"type": "number"}),
             node("n", "question", text="Anything else?", variable="note", validation={"type": "text"}),
             node("done", "message", text="We are looking for {{ref}}.")]
    await publish_bot(client, "Tracking", nodes, [edge("start", "q"), edge("q", "n"), edge("n", "done")])
    await loop.say({"text": "track"})
    assert bodies(await loop.wait_sent(1)) == ["Your tracking number?"]
    await loop.say({"text": "1234567890123456789012"})
    assert bodies(await loop.wait_sent(2))[1] == "Anything else?"
    await loop.say({"text": "no"})
    assert bodies(await loop.wait_sent(3))[2] == "We are looking for 1234567890123456789012."
