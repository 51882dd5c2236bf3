"""A worker's fresh-job lane stops when cancelled, even if one of its tasks does not."""

from __future__ import annotations

import asyncio

import pytest

from whatsapp_builder.whatsapp import fresh_jobs
from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane


async def test_a_task_that_ignores_its_cancellation_does_not_keep_the_lane_from_stopping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fresh_jobs, "STOP_SECONDS", 0.05)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # as a call that swallows its cancellation would

    async def obedient() -> None:
        await asyncio.sleep(3600)

    tasks = [asyncio.create_task(stubborn()), asyncio.create_task(obedient())]
    await asyncio.sleep(0)
    await asyncio.wait_for(FreshJobLane._stop(tasks), timeout=5)  # returns: it does not wait for ever
    assert tasks[1].cancelled() and not tasks[0].done()
    release.set()
    await asyncio.wait_for(tasks[0], timeout=5)
