"""Fan-out through Redis: two server processes and a write-only worker publisher share one channel."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from whatsapp_builder.realtime import events
from whatsapp_builder.realtime.server import RedisPublisher, create_publisher_for_worker
from whatsapp_builder.settings import Settings

from .rtkit import Client, bound_socket, wait_for_health

REDIS_URL = os.environ.get("WAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCRIPT = Path(__file__).with_name("redis_server_process.py")
MakeClient = Callable[[str, Any], Awaitable[Client]]


class ServerProcess:
    def __init__(self, database_url: str, channel: str, data_dir: Path, name: str) -> None:
        self.log_path = data_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self._sock = bound_socket()
        self._sock.listen(128)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        fd = self._sock.fileno()
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), database_url, REDIS_URL, channel, str(fd), str(data_dir)],
            pass_fds=[fd],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        try:
            await wait_for_health(self.url, limit=60, alive=lambda: self.process.poll() is None)
        except AssertionError:
            self.stop()
            output = self.log_path.read_text(errors="replace")
            raise AssertionError(f"server process did not start:\n{output}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._sock.close()
        self._log.close()


async def _redis_reachable() -> bool:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
async def channel() -> str:
    if not await _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set WAB_TEST_REDIS_URL to point at one)")
    return f"wab-test-{uuid.uuid4().hex}"  # one channel per run: parallel runs do not hear each other


@pytest.fixture(scope="module")
async def servers(
    channel: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    data_dir = tmp_path_factory.mktemp("redis-servers")
    first = ServerProcess(database_url, channel, data_dir, "first")
    second = ServerProcess(database_url, channel, data_dir, "second")
    try:
        await first.ready()
        await second.ready()
        yield first, second
    finally:
        first.stop()
        second.stop()


async def wait_for_subscribers(channel: str, count: int, limit: float = 10.0) -> None:
    """A server subscribes to the channel when its first client connects; wait until `count` have."""
    client = aioredis.Redis.from_url(REDIS_URL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    try:
        while True:
            numsub = dict(await client.pubsub_numsub(channel))
            subscribed = numsub.get(channel.encode(), numsub.get(channel, 0))
            if int(subscribed) >= count:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{count} subscriber(s) on {channel} not reached within {limit}s")
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def test_event_published_on_one_process_reaches_a_client_of_the_other(
    servers: tuple[ServerProcess, ServerProcess], channel: str, make_client: MakeClient, api_token: str
) -> None:
    first, second = servers
    on_second = await make_client(second.url, {"token": api_token})
    await wait_for_subscribers(channel, 1)
    event = events.conversation_updated({"id": str(uuid.uuid4()), "lastMessage": "from the first process"})
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{first.url}/_test/publish", json={"name": event.name, "payload": event.payload, "rooms": event.rooms}
        )
        assert response.status_code == 200
    assert await on_second.next_event() == ("conversation:updated", event.payload)

    # Both processes' clients hear an event published on either, once each.
    on_first = await make_client(first.url, {"token": api_token})
    await wait_for_subscribers(channel, 2)
    again = events.conversation_updated({"id": str(uuid.uuid4()), "lastMessage": "to everyone"})
    async with httpx.AsyncClient() as http:
        await http.post(
            f"{second.url}/_test/publish", json={"name": again.name, "payload": again.payload, "rooms": again.rooms}
        )
    assert await on_first.next_event() == ("conversation:updated", again.payload)
    assert await on_second.next_event() == ("conversation:updated", again.payload)


async def test_write_only_worker_publisher_reaches_clients(
    servers: tuple[ServerProcess, ServerProcess], channel: str, make_client: MakeClient, api_token: str
) -> None:
    clients = [await make_client(s.url, {"token": api_token}) for s in servers]
    await wait_for_subscribers(channel, 2)
    publisher = create_publisher_for_worker(Settings(redis_url=REDIS_URL), channel=channel)
    assert isinstance(publisher, RedisPublisher)
    try:
        conversation_id = str(uuid.uuid4())
        sent = [
            events.message_status(uuid.uuid4(), conversation_id, "sent", "wamid.1", None),
            events.context_updated(
                conversation_id,
                {"chatbotId": str(uuid.uuid4()), "currentNodeId": "n", "variables": {}, "isActive": True},
            ),
        ]
        await publisher.publish(sent)
        for client in clients:
            assert [await client.next_event() for _ in sent] == [(e.name, e.payload) for e in sent]
    finally:
        await publisher.close()


async def test_worker_publisher_without_redis_is_null() -> None:
    from whatsapp_builder.realtime.after_commit import NullPublisher

    publisher = create_publisher_for_worker(Settings(redis_url=None))
    assert isinstance(publisher, NullPublisher)
    await publisher.publish([events.conversation_updated({"id": str(uuid.uuid4())})])


async def test_a_publish_is_emitted_after_every_earlier_one_even_when_its_redis_publish_is_quicker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message's `sent` and `delivered`, published one after the other, must reach Redis (and the clients) in
    that order, however long the first one's round trip to Redis takes."""
    from whatsapp_builder.realtime import server

    publisher = RedisPublisher(REDIS_URL, channel=f"wab-test-{uuid.uuid4().hex}")
    emitted: list[list[str]] = []
    first_in_redis = asyncio.Event()

    async def to_redis(manager: Any, items: Any, *, here: bool) -> None:
        statuses = [item.payload["status"] for item in items]
        if "sent" in statuses:
            await first_in_redis.wait()  # this round trip is slow
        emitted.append(statuses)

    monkeypatch.setattr(server, "_emit_through_redis", to_redis)
    try:
        conversation_id = str(uuid.uuid4())
        message_id = uuid.uuid4()
        sent = asyncio.create_task(publisher.publish([events.message_status(message_id, conversation_id, "sent", "w", None)]))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # `sent` is on its way to Redis
        delivered = asyncio.create_task(
            publisher.publish([events.message_status(message_id, conversation_id, "delivered", "w", None)])
        )
        for _ in range(5):
            await asyncio.sleep(0)
        assert emitted == []  # `delivered` waits for `sent`
        first_in_redis.set()
        await asyncio.gather(sent, delivered)
        assert emitted == [["sent"], ["delivered"]]
    finally:
        await publisher.close()


async def test_statuses_published_at_once_reach_a_client_in_order(
    servers: tuple[ServerProcess, ServerProcess], channel: str, make_client: MakeClient, api_token: str
) -> None:
    client = await make_client(servers[0].url, {"token": api_token})
    await wait_for_subscribers(channel, 1)
    publisher = create_publisher_for_worker(Settings(redis_url=REDIS_URL), channel=channel)
    try:
        conversation_id = str(uuid.uuid4())
        ids = [uuid.uuid4() for _ in range(150)]
        await asyncio.gather(*(
            publisher.publish([events.message_status(i, conversation_id, state, "w", None)])
            for state in ("sent", "delivered", "read") for i in ids
        ))
        seen: dict[str, list[str]] = {}
        for _ in range(3 * len(ids)):
            _, payload = await client.next_event()
            seen.setdefault(payload["id"], []).append(payload["status"])
        backwards = [k for k, v in seen.items() if v != ["sent", "delivered", "read"]]
        assert backwards == []
    finally:
        await publisher.close()


async def test_an_emit_of_python_socketios_own_redis_emitter_still_reaches_clients(
    servers: tuple[ServerProcess, ServerProcess], channel: str, make_client: MakeClient, api_token: str
) -> None:
    """Our processes send many events to one Redis message; one event per message (python-socketio's own
    write-only emitter, as another program of the business may use) is heard as before."""
    import socketio

    client = await make_client(servers[1].url, {"token": api_token})
    await wait_for_subscribers(channel, 1)
    emitter = socketio.AsyncRedisManager(REDIS_URL, channel=channel, write_only=True)
    try:
        payload = {"id": str(uuid.uuid4()), "lastMessage": "from another program"}
        await emitter.emit("conversation:updated", payload, namespace="/", room=events.INBOX_ROOM)
        assert await client.next_event() == ("conversation:updated", payload)
    finally:
        await emitter.redis.aclose()


async def test_a_redis_that_takes_connections_but_never_answers_holds_no_publisher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A partitioned or paused Redis held every publish, and the webhook that waited for it answered 503 after
    its deadline (realtime audit): a publish now gives up, and none is tried for a while after."""
    from whatsapp_builder.realtime import server

    monkeypatch.setattr(server, "REDIS_PUBLISH_TIMEOUT", 0.05)
    monkeypatch.setattr(server, "PUBLISH_WAIT_SECONDS", 0.05)
    connections = 0

    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while await reader.read(65536):
            pass
        writer.close()

    hung = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    publisher = RedisPublisher(f"redis://127.0.0.1:{port}/0", channel="wab-hung")
    try:
        event = events.conversation_updated({"id": str(uuid.uuid4())})
        async with asyncio.timeout(5):  # was: as long as Redis took, forever here
            await publisher.publish([event])
            await publisher.publish([event])
            await publisher.close()
        assert connections == 1  # the second was not tried: Redis failed a moment before
    finally:
        hung.close()
