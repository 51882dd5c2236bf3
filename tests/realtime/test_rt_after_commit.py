"""Events leave after the commit that caused them, never after a rollback (real PostgreSQL sessions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_builder.core.context import AppContext
from whatsapp_builder.realtime import events
from whatsapp_builder.realtime.after_commit import (
    EventHooks,
    NullPublisher,
    install_event_hooks,
    pending_events,
    queue_event,
)
from whatsapp_builder.realtime.events import RealtimeEvent


class Recorder:
    def __init__(self) -> None:
        self.published: asyncio.Queue[RealtimeEvent] = asyncio.Queue()
        self.fail_next = False

    async def publish(self, items: Sequence[RealtimeEvent]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("publisher down")
        for item in items:
            await self.published.put(item)

    async def next(self) -> RealtimeEvent:
        return await asyncio.wait_for(self.published.get(), timeout=5)


def marker(label: str) -> RealtimeEvent:
    return events.message_status(uuid.uuid4(), uuid.uuid4(), label, None, None)


@pytest.fixture
async def hooked(
    app_context: AppContext,
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Recorder, EventHooks]]:
    # A sessionmaker of its own on the shared engine: the shared app_context.sessions stays untouched.
    sessions = async_sessionmaker(app_context.engine, expire_on_commit=False)
    recorder = Recorder()
    hooks = install_event_hooks(sessions, recorder)
    yield sessions, recorder, hooks
    await hooks.drain()
    hooks.remove()


async def test_commit_publishes_in_order(hooked: tuple[async_sessionmaker[AsyncSession], Recorder, EventHooks]) -> None:
    sessions, recorder, hooks = hooked
    first, second, third = marker("first"), marker("second"), marker("third")
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        queue_event(session, first)
        queue_event(session, second)
        assert pending_events(session) == [first, second]
        assert recorder.published.empty()  # nothing before the commit
        await session.commit()
        assert pending_events(session) == []
        queue_event(session, third)
        await session.commit()
    assert [await recorder.next() for _ in range(3)] == [first, second, third]
    await hooks.drain()


async def test_rollback_close_and_savepoint_rollback_publish_nothing(
    hooked: tuple[async_sessionmaker[AsyncSession], Recorder, EventHooks],
) -> None:
    sessions, recorder, _ = hooked
    async with sessions() as session:
        queue_event(session, marker("rolled back"))
        await session.rollback()
        await session.commit()  # an empty commit after the rollback publishes nothing either
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        queue_event(session, marker("closed without commit"))
    async with sessions() as session:
        kept = marker("kept")
        queue_event(session, kept)
        savepoint = await session.begin_nested()
        queue_event(session, marker("savepoint rolled back"))
        await savepoint.rollback()
        released = marker("savepoint released")
        async with session.begin_nested():
            queue_event(session, released)
        after = marker("after")
        queue_event(session, after)
        await session.commit()
    assert [await recorder.next() for _ in range(3)] == [kept, released, after]
    async with sessions() as session:
        last = marker("last")
        queue_event(session, last)
        await session.commit()
    assert await recorder.next() == last  # proves nothing else was waiting in between


async def test_failed_publish_is_logged_not_raised(
    hooked: tuple[async_sessionmaker[AsyncSession], Recorder, EventHooks], caplog: pytest.LogCaptureFixture
) -> None:
    sessions, recorder, hooks = hooked
    recorder.fail_next = True
    async with sessions() as session:
        queue_event(session, marker("lost"))
        await session.commit()  # does not raise
    await hooks.drain()
    assert "publishing 1 event(s) failed" in caplog.text
    async with sessions() as session:
        ok = marker("ok")
        queue_event(session, ok)
        await session.commit()
    assert await recorder.next() == ok


async def test_hooks_are_per_sessionmaker_and_reinstallable(app_context: AppContext) -> None:
    sessions = async_sessionmaker(app_context.engine, expire_on_commit=False)
    first, second = Recorder(), Recorder()
    install_event_hooks(sessions, first)
    hooks = install_event_hooks(sessions, second)  # replaces, does not stack
    try:
        async with sessions() as session:
            event = marker("once")
            queue_event(session, event)
            await session.commit()
        assert await second.next() == event
        await hooks.drain()
        assert first.published.empty() and second.published.empty()
        # Another sessionmaker is not hooked: its queued events stay queued and are dropped at the end.
        other = async_sessionmaker(app_context.engine, expire_on_commit=False)
        async with other() as session:
            queue_event(session, marker("unhooked"))
            await session.commit()
            assert len(pending_events(session)) == 1
    finally:
        hooks.remove()
    assert sessions.kw.get("sync_session_class") is not hooks.session_class
    await NullPublisher().publish([marker("nowhere")])
