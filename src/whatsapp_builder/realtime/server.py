"""The Socket.IO server at `/socket.io`: token check at connect, rooms, and the publisher that emits events.

One `Realtime` per server process, made by the app factory. With `REDIS_URL` set, every server process shares
its emits through Redis (python-socketio's AsyncRedisManager), so a client connected to any process receives the
events of all of them; worker processes publish through a write-only Redis emitter
(`create_publisher_for_worker`). Without Redis each process reaches only its own clients: fine for `serve`,
which runs the workers in-process by default, but events from separate `worker` processes are then lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import engineio
import socketio
from socketio.exceptions import ConnectionRefusedError as SocketConnectionRefused
from sqlalchemy import select
from starlette.types import ASGIApp

from whatsapp_builder.auth.models import ApiToken
from whatsapp_builder.auth.service import find_valid_token
from whatsapp_builder.conversations.models import Conversation
from whatsapp_builder.core import fastjson
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.realtime.after_commit import EventPublisher, NullPublisher
from whatsapp_builder.realtime.events import INBOX_ROOM, ForwardStatuses, RealtimeEvent, conversation_room
from whatsapp_builder.settings import Settings

logger = logging.getLogger(__name__)

SOCKETIO_PATH = "socket.io"
DEFAULT_CHANNEL = "whatsapp-builder"
CHANNEL_ENV = "WAB_REALTIME_CHANNEL"
CORS_ENV = "WAB_REALTIME_CORS_ORIGINS"

JOIN_EVENT = "conversation:join"
LEAVE_EVENT = "conversation:leave"

Ack = dict[str, Any]


def realtime_channel(channel: str | None = None) -> str:
    """The Redis pub/sub channel: `channel`, else WAB_REALTIME_CHANNEL, else "whatsapp-builder"."""
    return channel or os.environ.get(CHANNEL_ENV) or DEFAULT_CHANNEL


def _cors_origins(origins: str | Sequence[str] | None) -> str | list[str] | None:
    """`origins`, else WAB_REALTIME_CORS_ORIGINS ("*" or a comma-separated list), else None (same origin only)."""
    if origins is None:
        configured = os.environ.get(CORS_ENV, "").strip()
        if not configured:
            return None
        origins = configured if configured == "*" else [o.strip() for o in configured.split(",") if o.strip()]
    return origins if isinstance(origins, str) else list(origins)


class _FastJson:
    """The JSON module python-socketio and python-engineio encode and decode packets with: orjson (core/fastjson)
    instead of the standard library, which took a tenth of the server's time with an inbox open under load."""

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        return fastjson.dumps(value).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        try:
            return fastjson.loads(data)
        except ValueError:
            # NaN and the infinities, which fastjson refuses for the API: read as python-socketio's own json reads
            # them, so that the handler refuses such a payload with an answer. A packet python-socketio cannot
            # decode is logged with a traceback, and gets no answer.
            return json.loads(data)


class _JsonPacket(socketio.packet.Packet):  # type: ignore[misc]
    """Socket.IO packets without binary attachments. Every event payload is JSON made by realtime/events.py, so
    the default's walk through each payload looking for bytes to send as attachments (every emit, every nested
    value) finds nothing and only costs time."""

    uses_binary_events = False


class _LocalManager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's manager of one process's clients, with a cheaper emit of an event to rooms: the packet
    goes into each recipient's send queue in turn instead of through an asyncio task per recipient and a wait
    for them all, which cost as much as the rest of the emit with one inbox open under load. With Redis,
    `_BatchingRedisManager` emits to the process's own clients the same way."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None or skip_sid is not None or not isinstance(data, dict) or namespace not in self.rooms:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs)
            return
        await _emit_to_own_clients(self, event, data, namespace, to or room)


async def _emit_to_own_clients(manager: Any, event: str, data: Any, namespace: str, rooms: Any) -> None:
    """The packet is encoded once and put into each recipient's send queue in turn."""
    if namespace not in manager.rooms:
        return  # no client of this process
    encoded = manager.server.packet_class(socketio.packet.EVENT, namespace=namespace, data=[event, data]).encode()
    message = engineio.packet.Packet(engineio.packet.MESSAGE, encoded)
    for _, eio_sid in list(manager.get_participants(namespace, rooms)):
        await manager.server._send_eio_packet(eio_sid, message)


class _InCallOrder:
    """Emits each publish's events after those of every earlier publish of this process, in one go with the
    other publishes waiting meanwhile. With Redis an emit was a PUBLISH on one of several pooled connections:
    two publishes awaiting theirs at once could reach Redis, and so the clients, in either order (a message's
    `sent` after its `delivered`; the ForwardStatuses filter runs when publish is called, in call order, and
    must see the emits in that order too). Going together, they also share one round trip to Redis."""

    def __init__(self, emit_many: Callable[[list[RealtimeEvent]], Awaitable[None]]) -> None:
        self._emit_many = emit_many
        self._queue: list[tuple[Sequence[RealtimeEvent], asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def emit(self, items: Sequence[RealtimeEvent]) -> None:
        if not items:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(_retrieve)  # a caller that went away leaves no "never retrieved" warning
        self._queue.append((items, done))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PUBLISH_WAIT_SECONDS):
                await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._emit_many([item for items, _ in batch for item in items])
            except Exception as exc:
                # Said here: a publisher that stopped waiting (PUBLISH_WAIT_SECONDS) would never see it.
                logger.error("realtime: %d event(s) not emitted: %r", sum(len(items) for items, _ in batch), exc)
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)

    async def close(self) -> None:
        """Wait for the emits already asked for."""
        if self._drainer is not None:
            with contextlib.suppress(Exception):
                await self._drainer


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


# Emits carried by one Redis message, at most.
REDIS_BATCH_MAX = 500
# A Redis that takes connections but does not answer (a network partition, a paused container) held every publish,
# and with it the request or batch that waited for it (webhooks answered 503 after their deadline): a publish
# gives up after REDIS_PUBLISH_TIMEOUT, and then none is tried for REDIS_PAUSE_SECONDS. The data is committed;
# clients catch up through REST.
REDIS_PUBLISH_TIMEOUT = 1.0
REDIS_PAUSE_SECONDS = 5.0
# How long a publisher waits for its events to go out: past it, they still go, in order, without it.
PUBLISH_WAIT_SECONDS = 1.0
_BATCH_METHOD = "wab_emit_many"


class _BatchingRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, also hearing emits that come many to one Redis message
    (`_emit_through_redis`). One PUBLISH per emit cost about 0.3 ms of CPU where it was sent and again in every
    process that heard it, its own included: with Redis, more than the rest of a reply's work."""

    async def _listen(self) -> AsyncIterator[Any]:
        async for data in super()._listen():
            try:
                decoded = self.json.loads(data)
            except ValueError:
                continue
            if isinstance(decoded, dict) and decoded.get("method") == _BATCH_METHOD:
                if decoded.get("host_id") == self.host_id:
                    continue  # this process's own: its clients have them already
                for message in decoded.get("messages") or ():
                    if isinstance(message, dict):
                        yield message
            else:
                yield decoded

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        """An emit to this process's clients (heard from Redis, or its own), as `_LocalManager` makes it."""
        data = message.get("data")
        plain = message.get("callback") is None and message.get("skip_sid") is None and not message.get("binary")
        if plain and isinstance(data, list) and len(data) == 1:
            namespace = message.get("namespace") or "/"
            await _emit_to_own_clients(self, message["event"], data[0], namespace, message.get("room"))
            return
        await super()._handle_emit(message)


async def _emit_through_redis(manager: Any, items: Sequence[RealtimeEvent], *, here: bool) -> None:
    """Each event as python-socketio's AsyncRedisManager.emit makes it, many to one Redis message, heard by every
    `_BatchingRedisManager`. `here`: also emit to this process's own clients."""
    messages = [
        {
            "method": "emit",
            "event": item.name,
            "data": [item.payload],
            "binary": False,
            "namespace": "/",
            "room": _rooms(item),
            "skip_sid": None,
            "callback": None,
            "host_id": manager.host_id,
        }
        for item in items
    ]
    if here:
        for message in messages:
            await manager._handle_emit(message)
    for start in range(0, len(messages), REDIS_BATCH_MAX):
        chunk = messages[start : start + REDIS_BATCH_MAX]
        if time.monotonic() < getattr(manager, "paused_until", 0.0):
            continue  # Redis failed a moment ago: said once then, not for every publish
        data = manager.json.dumps({"method": _BATCH_METHOD, "host_id": manager.host_id, "messages": chunk})
        for attempt in (1, 2):  # as the library does: reconnect and try once more, then log and go on
            try:
                if not manager.connected:
                    manager._redis_connect()
                async with asyncio.timeout(REDIS_PUBLISH_TIMEOUT):
                    await manager.redis.publish(manager.channel, data)
                break
            except Exception as exc:
                manager.connected = False
                if attempt == 2 or isinstance(exc, TimeoutError):
                    manager.paused_until = time.monotonic() + REDIS_PAUSE_SECONDS
                    why = f"no answer within {REDIS_PUBLISH_TIMEOUT:g} s" if isinstance(exc, TimeoutError) else exc
                    logger.error(
                        "realtime: %d event(s) not published to Redis (%s); for %g s, events reach only this"
                        " process's own clients",
                        len(chunk),
                        why,
                        REDIS_PAUSE_SECONDS,
                    )
                    break


def _rooms(event: RealtimeEvent) -> list[str]:
    return list(dict.fromkeys(event.rooms))


def _conversation_id(data: Any) -> uuid.UUID | None:
    if not isinstance(data, dict):
        return None
    value = data.get("conversationId")
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class Realtime:
    """The process's Socket.IO server; also the `EventPublisher` that emits events to its rooms."""

    def __init__(self, context: AppContext, sio: Any, manager: Any | None = None) -> None:
        self.context = context
        self.sio = sio
        self.manager = manager
        self._clients: dict[str, uuid.UUID] = {}  # sid -> the id of the token it connected with
        self._connected: set[str] = set()  # sids whose connection was accepted, until they disconnect
        self._token_checks: asyncio.Task[None] | None = None
        self._forward = ForwardStatuses()
        self._in_order = _InCallOrder(self._emit_many)
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        sio.on(JOIN_EVENT, self._join)
        sio.on(LEAVE_EVENT, self._leave)

    async def publish(self, events: Sequence[RealtimeEvent]) -> None:
        """Emit each event once to every client in any of its rooms (on every process, through Redis), in the
        order publish is called."""
        await self._in_order.emit(self._forward.keep(events))

    async def _emit_many(self, items: list[RealtimeEvent]) -> None:
        if self.manager is not None:
            await _emit_through_redis(self.manager, items, here=True)
            return
        for item in items:
            await self.sio.emit(item.name, item.payload, to=_rooms(item))

    def listening(self) -> bool:
        """With Redis, clients of other processes may be listening; without it, only this process's own."""
        return self.manager is not None or bool(self._clients)

    def wrap(self, asgi_app: ASGIApp) -> ASGIApp:
        """`asgi_app` with Socket.IO answering at `/socket.io` (everything else, lifespan included, goes to it)."""
        wrapped: ASGIApp = socketio.ASGIApp(self.sio, other_asgi_app=asgi_app, socketio_path=SOCKETIO_PATH)
        return wrapped

    async def close(self) -> None:
        """Close the Redis connection, if any (call on shutdown)."""
        if self._token_checks is not None:
            self._token_checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._token_checks
            self._token_checks = None
        await self._in_order.close()
        await _close_redis(self.manager)

    async def close_revoked(self) -> int:
        """Disconnect this process's clients whose token has been revoked (or deleted) since they connected; how
        many. A token is checked at connect only, so without this a revoked one kept receiving every event."""
        if not self._clients:
            return 0
        # Decided on this copy: a client that connects during the query below has a token it did not ask about.
        clients = dict(self._clients)
        token_ids = set(clients.values())
        async with self.context.sessions() as session:
            valid = set(
                (
                    await session.scalars(
                        select(ApiToken.id).where(ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None))
                    )
                ).all()
            )
        revoked = [
            sid for sid, token_id in clients.items() if token_id not in valid and self._clients.get(sid) == token_id
        ]
        for sid in revoked:
            self._clients.pop(sid, None)
            await self.sio.disconnect(sid)
        return len(revoked)

    async def _check_tokens(self) -> None:
        while self._clients:
            await asyncio.sleep(self.context.settings.realtime_token_check_seconds)
            try:
                closed = await self.close_revoked()
            except Exception:
                logger.warning("realtime: checking the clients' tokens failed", exc_info=True)
                continue
            if closed:
                logger.info("realtime: closed %d connection(s) of revoked tokens", closed)
        self._token_checks = None

    # Handlers.

    async def _connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        if sid in self._connected:
            # A connected client that emits an event named "connect": python-socketio hands it to this handler too.
            # It is no connection attempt (refusing it raised in a background task: a traceback in the log).
            return
        token = auth.get("token") if isinstance(auth, dict) else None
        # Our tokens are ASCII: anything else (half a surrogate pair, say) is no token, not a failed check.
        if not isinstance(token, str) or not token or not token.isascii():
            raise SocketConnectionRefused("unauthorized")
        try:
            async with self.context.sessions() as session:
                record = await find_valid_token(session, token)
                await session.commit()
        except Exception:
            logger.exception("realtime: token check failed")
            raise SocketConnectionRefused("unavailable") from None
        if record is None:
            raise SocketConnectionRefused("unauthorized")
        await self.sio.save_session(sid, {"tokenId": str(record.id)})
        await self.sio.enter_room(sid, INBOX_ROOM)
        self._clients[sid] = record.id
        self._connected.add(sid)
        if self._token_checks is None or self._token_checks.done():
            self._token_checks = asyncio.create_task(self._check_tokens())

    async def _disconnect(self, sid: str, *_: Any) -> None:
        self._clients.pop(sid, None)
        self._connected.discard(sid)

    async def _join(self, sid: str, data: Any = None, *_: Any) -> Ack:
        conversation_id = _conversation_id(data)
        if conversation_id is None:
            return {"ok": False, "error": "invalid"}
        try:
            async with self.context.sessions() as session:
                found = await session.scalar(select(Conversation.id).where(Conversation.id == conversation_id))
        except Exception:
            logger.exception("realtime: conversation lookup failed")
            return {"ok": False, "error": "unavailable"}
        if found is None:
            return {"ok": False, "error": "not_found"}
        await self.sio.enter_room(sid, conversation_room(conversation_id))
        return {"ok": True}

    async def _leave(self, sid: str, data: Any = None, *_: Any) -> Ack:
        conversation_id = _conversation_id(data)
        if conversation_id is None:
            return {"ok": False, "error": "invalid"}
        await self.sio.leave_room(sid, conversation_room(conversation_id))
        return {"ok": True}


async def close_revoked_connections(publisher: object) -> None:
    """After a token is revoked: close this process's Socket.IO connections made with it now (other processes
    close theirs at their next check, `WAB_REALTIME_TOKEN_CHECK_SECONDS`). A publisher without clients (a worker's)
    has nothing to close."""
    close = getattr(publisher, "close_revoked", None)
    if close is None:
        return
    try:
        await close()
    except Exception:
        logger.warning("realtime: closing the connections of a revoked token failed", exc_info=True)


def create_realtime(
    context: AppContext,
    *,
    channel: str | None = None,
    cors_allowed_origins: str | Sequence[str] | None = None,
) -> Realtime:
    """The Socket.IO server for `context`; shares emits through Redis when `context.settings.redis_url` is set.

    `channel` is the Redis pub/sub channel (default: WAB_REALTIME_CHANNEL, else "whatsapp-builder"); every
    process of one installation must use the same. `cors_allowed_origins` defaults to WAB_REALTIME_CORS_ORIGINS,
    else same-origin only.
    """
    manager: Any | None = None
    if context.settings.redis_url:
        manager = _BatchingRedisManager(context.settings.redis_url, channel=realtime_channel(channel), json=_FastJson)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager if manager is not None else _LocalManager(),
        serializer=_JsonPacket,
        json=_FastJson,
        cors_allowed_origins=_cors_origins(cors_allowed_origins),
        logger=False,
        engineio_logger=False,
    )
    return Realtime(context, sio, manager)


class RedisPublisher:
    """Publishes through Redis to whichever server processes hold the clients (write-only: receives nothing)."""

    def __init__(self, redis_url: str, channel: str | None = None) -> None:
        self.manager: Any = _BatchingRedisManager(
            redis_url, channel=realtime_channel(channel), write_only=True, json=_FastJson
        )
        self._forward = ForwardStatuses()
        self._in_order = _InCallOrder(self._emit_many)

    async def publish(self, events: Sequence[RealtimeEvent]) -> None:
        await self._in_order.emit(self._forward.keep(events))

    async def _emit_many(self, items: list[RealtimeEvent]) -> None:
        await _emit_through_redis(self.manager, items, here=False)

    def listening(self) -> bool:
        return True

    async def close(self) -> None:
        await self._in_order.close()
        await _close_redis(self.manager)


def create_publisher_for_worker(settings: Settings, *, channel: str | None = None) -> EventPublisher:
    """The publisher for a process without a Socket.IO server of its own (`worker`).

    With REDIS_URL: a write-only Redis emitter, heard by every server process. Without it: a NullPublisher, so
    events of separate worker processes reach no one (clients still see the changes through the REST API);
    `serve` runs the workers in its own process by default, where the server's own `Realtime` publishes.
    """
    if settings.redis_url:
        return RedisPublisher(settings.redis_url, channel)
    return NullPublisher()


async def _close_redis(manager: Any | None) -> None:
    redis = getattr(manager, "redis", None)
    if redis is None:
        return
    try:
        await redis.aclose()
    except Exception:
        logger.debug("realtime: closing the Redis connection failed", exc_info=True)
