"""core/batching.GroupCommit: callers that wait behind a write share the next one, each gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from whatsapp_builder.core.batching import GroupCommit, ShuttingDown


class Poison(Exception):
    pass


class Down(Exception):
    pass


async def test_callers_waiting_behind_a_write_share_the_next_one() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            await gate.wait()  # the first write is slow: the others queue up behind it
        return [i * 10 for i in items]

    batcher: GroupCommit[int, int] = GroupCommit(handler, max_in_flight=1, max_batch=3)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0)  # the first write starts
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(first, *rest) == [0, 10, 20, 30, 40, 50]
    assert calls == [[0], [1, 2, 3], [4, 5]]


async def test_a_poisoned_batch_is_retried_item_by_item() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            await gate.wait()
        if 13 in items:
            raise Poison("13 cannot be written")
        return list(items)

    batcher: GroupCommit[int, int] = GroupCommit(handler, max_in_flight=1, isolate=lambda e: isinstance(e, Poison))
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(batcher.submit(i)) for i in (12, 13, 14)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *others, return_exceptions=True)
    assert results[:2] == [1, 12] and isinstance(results[2], Poison) and results[3] == 14
    assert calls == [[1], [12, 13, 14], [12], [13], [14]]


async def test_when_the_store_is_down_every_caller_fails_at_once() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            await gate.wait()
            return list(items)
        raise Down("no database")

    batcher: GroupCommit[int, int] = GroupCommit(handler, max_in_flight=1, isolate=lambda e: not isinstance(e, Down))
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *others, return_exceptions=True)
    assert results[0] == 1 and all(isinstance(r, Down) for r in results[1:])
    assert calls == [[1], [2, 3]]  # not retried one by one


async def test_close_finishes_what_was_taken_and_refuses_new_items() -> None:
    async def handler(items: Sequence[int]) -> list[int]:
        await asyncio.sleep(0)
        return list(items)

    batcher: GroupCommit[int, int] = GroupCommit(handler)
    pending = asyncio.ensure_future(batcher.submit(7))
    await asyncio.sleep(0)
    await batcher.close()
    assert await pending == 7
    with pytest.raises(ShuttingDown):
        await batcher.submit(8)


async def test_an_item_submitted_as_the_last_drain_ends_is_still_written() -> None:
    # Another task wakes while the drain is finishing, before its asyncio task has completed: the item it submits
    # must start a drain of its own rather than wait, stranded, for some later caller.
    gate = asyncio.Event()

    async def handler(items: Sequence[int]) -> list[int]:
        gate.set()
        return list(items)

    batcher: GroupCommit[int, int] = GroupCommit(handler, max_in_flight=1)

    async def right_after() -> int:
        await gate.wait()
        return await batcher.submit(2)

    other = asyncio.ensure_future(right_after())
    assert await batcher.submit(1) == 1
    assert await asyncio.wait_for(other, timeout=2) == 2


async def test_a_later_stage_waits_while_the_first_one_is_backlogged_and_its_callers_gather() -> None:
    """Webhooks first (whatsapp/fast_path.py): while callers of `first` wait longer than allowed, `second` takes no
    new batch; when `first` catches up, `second` writes everything that gathered meanwhile in one batch."""
    release = asyncio.Event()
    first_calls: list[list[int]] = []
    second_calls: list[list[int]] = []

    async def slow_first(items: Sequence[int]) -> list[int]:
        first_calls.append(list(items))
        if len(first_calls) == 1:
            await release.wait()
        return list(items)

    async def second_handler(items: Sequence[int]) -> list[int]:
        second_calls.append(list(items))
        return list(items)

    first: GroupCommit[int, int] = GroupCommit(slow_first, max_in_flight=1)
    second: GroupCommit[int, int] = GroupCommit(
        second_handler, max_in_flight=1, before_batch=lambda: first.caught_up(0.0, 30.0)
    )
    blocking = asyncio.ensure_future(first.submit(0))
    await asyncio.sleep(0)
    backlog = asyncio.ensure_future(first.submit(1))  # waits behind the slow write: `first` is backlogged
    await asyncio.sleep(0)
    assert first.backlog_seconds() > 0
    later = [asyncio.ensure_future(second.submit(i)) for i in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert second_calls == []  # held back while `first` has callers waiting
    release.set()
    assert await asyncio.gather(blocking, backlog, *later) == [0, 1, 0, 1, 2]
    assert second_calls == [[0, 1, 2]]
    assert first.backlog_seconds() == 0.0


async def test_caught_up_gives_up_after_its_limit() -> None:
    never = asyncio.Event()

    async def stuck(items: Sequence[int]) -> list[int]:
        await never.wait()
        return list(items)

    batcher: GroupCommit[int, int] = GroupCommit(stuck, max_in_flight=1)
    held = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    await asyncio.wait_for(batcher.caught_up(0.0, 0.01), timeout=5)  # returns though the backlog remains
    assert batcher.backlog_seconds() > 0
    held.cancel()
    waiting.cancel()
    never.set()
