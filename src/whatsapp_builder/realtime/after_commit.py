"""Events leave only after the transaction that caused them commits; a rollback emits nothing.

A service queues events on the session it works in (`queue_event`); `install_event_hooks` makes every session of
a sessionmaker hand its queued events to a publisher right after the outermost commit, and drop them when the
transaction (or the savepoint they were queued in) rolls back or the session closes without committing.

The commit hook runs synchronously inside the event loop (SQLAlchemy's async layer runs the sync session in a
greenlet on the loop's thread), so the publish is scheduled as a task on the running loop. Publishes of one
process go out in commit order: each task waits for the previous one. A failed publish is logged, never raised:
the commit already happened and clients catch up through the REST API (docs/realtime.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from whatsapp_builder.realtime.events import RealtimeEvent

logger = logging.getLogger(__name__)

_QUEUE_KEY = "whatsapp_builder.realtime.pending"


class EventPublisher(Protocol):
    """Delivers events to connected clients (directly, or through Redis to every server process)."""

    async def publish(self, events: Sequence[RealtimeEvent]) -> None: ...


class NullPublisher:
    """Publishes nowhere: for processes with no clients and no Redis to reach them through."""

    async def publish(self, events: Sequence[RealtimeEvent]) -> None:
        return None

    def listening(self) -> bool:
        return False


@dataclass(frozen=True)
class _Pending:
    event: RealtimeEvent
    transaction: SessionTransaction | None


def _pending(session: Session) -> list[_Pending]:
    queue: list[_Pending] = session.info.setdefault(_QUEUE_KEY, [])
    return queue


def queue_event(session: AsyncSession | Session, event: RealtimeEvent) -> None:
    """Queue `event` to be published once `session`'s current transaction commits (see `install_event_hooks`).

    With no transaction in progress one is begun (as the session's next statement would), so the event belongs
    to the transaction that follows and a rollback drops it. Inside a savepoint it is dropped when the savepoint
    rolls back, kept when the savepoint is released.
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if sync.get_transaction() is None:
        sync.begin()  # no I/O: the connection is taken by the first statement
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    _pending(sync).append(_Pending(event, transaction))


def queue_events(session: AsyncSession | Session, events: Sequence[RealtimeEvent]) -> None:
    for item in events:
        queue_event(session, item)


def pending_events(session: AsyncSession | Session) -> list[RealtimeEvent]:
    """The events queued on `session` and not yet published or dropped."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    return [p.event for p in sync.info.get(_QUEUE_KEY, [])]


def _descends_from(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


class EventHooks:
    """The session listeners of one sessionmaker; `drain()` waits for the publishes already scheduled."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        session_class: type[Session],
        original_class: type[Session],
        publisher: EventPublisher,
    ) -> None:
        self.sessions = sessions
        self.session_class = session_class
        self.original_class = original_class
        self.publisher = publisher
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None

    # Listeners (synchronous, called by SQLAlchemy).

    def after_commit(self, session: Session) -> None:
        queue = session.info.pop(_QUEUE_KEY, None)
        if not queue:
            return
        self._schedule([p.event for p in queue])

    def after_soft_rollback(self, session: Session, previous_transaction: SessionTransaction) -> None:
        queue: list[_Pending] | None = session.info.get(_QUEUE_KEY)
        if queue:
            queue[:] = [p for p in queue if not _descends_from(p.transaction, previous_transaction)]

    def after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        # The outermost transaction ended without a commit that took the queue (closed, or rolled back).
        if transaction.parent is None:
            session.info.pop(_QUEUE_KEY, None)

    # Publishing.

    def _schedule(self, events: list[RealtimeEvent]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.error("realtime: commit outside an event loop, %d event(s) not published", len(events))
            return
        previous = self._last if self._last is not None and self._last.get_loop() is loop else None
        task = loop.create_task(self._publish(previous, events))
        self._last = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, previous: asyncio.Task[None] | None, events: list[RealtimeEvent]) -> None:
        if previous is not None and not previous.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        try:
            await self.publisher.publish(events)
        except Exception:
            logger.exception("realtime: publishing %d event(s) failed", len(events))

    async def drain(self) -> None:
        """Wait until every publish scheduled so far has finished (e.g. before shutting down)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def remove(self) -> None:
        """Stop listening and give the sessionmaker its original session class back."""
        for name in ("after_commit", "after_soft_rollback", "after_transaction_end"):
            event.remove(self.session_class, name, getattr(self, name))
        self.sessions.configure(sync_session_class=self.original_class)


def install_event_hooks(sessions: async_sessionmaker[AsyncSession], publisher: EventPublisher) -> EventHooks:
    """Publish the events queued on sessions of `sessions` after each commit, through `publisher`.

    The listeners are attached to a session class made for this sessionmaker alone (other sessionmakers of the
    process are untouched). Installing again on the same sessionmaker replaces the previous hooks.
    """
    current: type[Session] = sessions.kw.get("sync_session_class", Session)
    previous: EventHooks | None = getattr(current, "_realtime_hooks", None)
    if previous is not None:
        previous.remove()
        current = previous.original_class
    session_class: type[Session] = type("RealtimeSession", (current,), {})
    hooks = EventHooks(sessions, session_class, current, publisher)
    session_class._realtime_hooks = hooks  # type: ignore[attr-defined]
    event.listen(session_class, "after_commit", hooks.after_commit)
    event.listen(session_class, "after_soft_rollback", hooks.after_soft_rollback)
    event.listen(session_class, "after_transaction_end", hooks.after_transaction_end)
    sessions.configure(sync_session_class=session_class)
    return hooks
