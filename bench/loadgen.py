"""HTTP load against 127.0.0.1 only, always bounded in count and time, on uvloop.

The client is the project's own keep-alive pool (`whatsapp/graph_http.py`), not aiohttp: at 1,000 POSTs a
second aiohttp took a quarter of one of the machine's two cores, CPU the system being measured then lacked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from whatsapp_builder.whatsapp.graph_http import GraphHttp, HttpTransportError

MAX_IN_FLIGHT = 512
REQUEST_TIMEOUT = 30.0


def _local_only(url: str) -> None:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"bench load is for 127.0.0.1 only, not {url}")


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    elapsed: float = 0.0
    first_error: str | None = None

    def note(self, status: int | None, latency: float, error: str | None = None) -> None:
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status is not None and 200 <= status < 300:
            self.ok += 1
            self.latencies.append(latency)
        else:
            self.errors += 1
            if self.first_error is None:
                self.first_error = error or f"HTTP {status}"


def _session(limit: int) -> GraphHttp:
    return GraphHttp(timeout_seconds=REQUEST_TIMEOUT, limit=limit)


async def _post(session: GraphHttp, url: str, body: bytes, headers: dict[str, str]) -> int:
    return (await session.request("POST", url, headers=headers.items(), body=body)).status


async def closed_loop(url: str, make: Callable[[int], tuple[bytes, dict[str, str]]], *, concurrency: int,
                      duration: float, max_requests: int = 1_000_000) -> LoadResult:
    """`concurrency` clients each POSTing back to back for `duration` seconds."""
    _local_only(url)
    result = LoadResult()
    counter = 0
    deadline = time.perf_counter() + duration

    async def client(session: GraphHttp) -> None:
        nonlocal counter
        while time.perf_counter() < deadline and counter < max_requests:
            n = counter
            counter += 1
            body, headers = make(n)
            started = time.perf_counter()
            try:
                result.note(await _post(session, url, body, headers), time.perf_counter() - started)
            except (HttpTransportError, OSError, TimeoutError) as exc:
                result.note(None, 0.0, repr(exc))
            result.sent += 1

    started = time.perf_counter()
    session = _session(concurrency)
    try:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    finally:
        await session.close()
    result.elapsed = time.perf_counter() - started
    return result


@dataclass
class OpenLoopResult(LoadResult):
    scheduled: list[float] = field(default_factory=list)  # wall-clock send time per request (unix seconds)
    late: int = 0  # requests that could not even start on time (client-side backlog)


async def open_loop(url: str, bodies: list[tuple[bytes, dict[str, str]]], *, rate: float) -> OpenLoopResult:
    """POST `bodies[i]` at t0 + i/rate, never waiting for answers (no coordinated omission: latency counts
    from the scheduled time). In-flight requests are capped at MAX_IN_FLIGHT; beyond it they queue."""
    _local_only(url)
    result = OpenLoopResult()
    tasks: list[asyncio.Task[None]] = []
    wall0 = time.time() + 0.05
    mono0 = time.perf_counter() + 0.05
    result.scheduled = [wall0 + i / rate for i in range(len(bodies))]

    async def one(session: GraphHttp, i: int) -> None:
        body, headers = bodies[i]
        scheduled = mono0 + i / rate
        try:
            result.note(await _post(session, url, body, headers), time.perf_counter() - scheduled)
        except (HttpTransportError, OSError, TimeoutError) as exc:
            result.note(None, 0.0, repr(exc))

    session = _session(MAX_IN_FLIGHT)
    try:
        i = 0
        while i < len(bodies):
            now = time.perf_counter()
            due = min(len(bodies), int((now - mono0) * rate) + 1)
            if due - i > max(50, rate * 0.05):
                result.late += due - i - int(max(50, rate * 0.05))
            while i < due:
                tasks.append(asyncio.create_task(one(session, i)))
                i += 1
            result.sent = i
            await asyncio.sleep(max(0.0, min(0.002, mono0 + i / rate - time.perf_counter())))
        result.elapsed = time.perf_counter() - mono0
        await asyncio.gather(*tasks)
    finally:
        await session.close()
    return result
