"""Stopping a worker ends it: whatever its database or Python's asyncio does meanwhile (audit of SIGTERM)."""

from __future__ import annotations

import asyncio

import pytest

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.jobs import tasks
from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_lane_cancelled_as_a_notification_wakes_it_stops(app_context: AppContext, turns: int) -> None:
    """On Python 3.11, asyncio.wait_for returned instead of raising when cancelled as its wait ended (CPython
    gh-86296): cancelled just after a NOTIFY woke it, the lane went on taking jobs after a SIGTERM."""
    lane = FreshJobLane(app_context, poll_seconds=3600)
    task = asyncio.create_task(lane.run())
    for _ in range(5):
        await asyncio.sleep(0)
    lane._wake.set()  # what each `NOTIFY wab_fresh_jobs` does
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=15)
    assert task in done and task.cancelled()


async def test_a_worker_asked_to_stop_stops_even_if_its_unregistering_fails(
    app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the database gone, procrastinate's graceful stop fails to unregister the worker and raises that
    error in place of the cancellation; taken for an outage, the worker started again and never stopped."""
    started = asyncio.Event()

    async def worker_losing_its_database(*args: object, **kwargs: object) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("could not unregister: the database is unreachable") from None

    monkeypatch.setattr(tasks, "run_worker", worker_losing_its_database)
    task = asyncio.create_task(tasks.keep_worker_running(app_context))
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=15)
    assert task in done and task.cancelled()
