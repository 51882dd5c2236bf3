"""The Graph API's own connection pool: keep-alive HTTP/1.1 on asyncio, responses parsed by httptools.

Every answered message costs three Graph API calls (two replies and a read receipt), which makes this the
hottest outbound path of the system. aiohttp spent about 60 µs of CPU per call here, most of it in features the
Graph API never uses; this pool spends under 10 µs (bench: `bench/run.sh --only b`; the measurements are in
docs/architecture.md). It does only what the Graph API needs and nothing more: requests with a Content-Length,
responses with a Content-Length or a chunked body, keep-alive, TLS with the system's certificates, a total and a
connect timeout. No redirects, cookies, proxies or compression: the Graph API uses none of them (the aiohttp
session it replaces had cookies off and ignored proxy settings too).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

# An idle connection older than this is closed, not reused. A server closing one first is noticed (EOF), and a
# request that meets such a close before any answer goes once more on a new connection; a long idle time saves
# the TLS handshake of every message at a trickle.
IDLE_SECONDS = 30.0
USER_AGENT = "WhatsAppBuilder"


class HttpTransportError(Exception):
    """The request could not be completed: connection refused or reset, broken response, ...

    `answered` is set when the server had begun to answer: it has the request, so sending it again could do it
    twice."""

    def __init__(self, message: str, *, answered: bool = False) -> None:
        super().__init__(message)
        self.answered = answered


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    host_header: str
    path: str


@functools.lru_cache(maxsize=512)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(parts.scheme, parts.hostname, port, parts.netloc.rpartition("@")[2], path)


def _head(method: str, target: _Target, headers: Iterable[tuple[str, str]], length: int | None) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}", f"User-Agent: {USER_AGENT}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    for name, value in headers:
        if any(c in name or c in value for c in "\r\n\0"):
            raise ValueError(f"header {name} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    # latin-1 as HTTP/1.1 headers: a value it cannot encode raises UnicodeEncodeError, a ValueError
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(eq=False)
class _Connection(asyncio.Protocol):
    """One keep-alive connection; it carries one request at a time."""

    transport: asyncio.BaseTransport | None = None
    closed: bool = False
    idle_since: float = 0.0
    received: bool = False  # any byte of an answer to the current request
    _waiter: asyncio.Future[HttpResponse] | None = None
    _parser: httptools.HttpResponseParser | None = None
    _reason: str = ""
    _headers: dict[str, str] = field(default_factory=dict)
    _body: list[bytes] = field(default_factory=list)
    _until_close: bool = False  # headers done, and the body has neither a length nor chunks: it ends at close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses: no isinstance

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._until_close and self._parser is not None:
            self._complete(self._parser.get_status_code())  # the close ends such a body
            return
        reason = str(exc) if exc else "the server closed the connection"
        if self.received:
            reason = f"the answer was cut short: {reason}"
        self._fail(HttpTransportError(reason, answered=self.received))

    def eof_received(self) -> bool:
        self.closed = True  # never reused again; the transport closes itself
        return False

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._parser is None:
            self.close()  # nothing was asked (e.g. a 408 on an idle connection): the connection is done
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpTransportError(f"bad HTTP response: {exc}", answered=True))
            self.close()

    def send(self, request: bytes, waiter: asyncio.Future[HttpResponse]) -> None:
        if self.closed or self.transport is None:
            waiter.set_exception(HttpTransportError("the connection was closed"))
            return
        self._waiter = waiter
        self._parser = httptools.HttpResponseParser(self)
        self._reason, self._headers, self._body = "", {}, []
        self.received = self._until_close = False
        cast(asyncio.WriteTransport, self.transport).write(request)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # httptools callbacks
    def on_status(self, status: bytes) -> None:
        self._reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_headers_complete(self) -> None:
        delimited = "content-length" in self._headers or "transfer-encoding" in self._headers
        assert self._parser is not None
        self._until_close = not delimited and self._parser.get_status_code() not in (204, 304)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        if not self._parser.should_keep_alive():
            self.close()
        self._complete(self._parser.get_status_code())

    def _complete(self, status: int) -> None:
        # The parser is dropped: bytes after a complete answer can no longer touch it (the connection closes).
        self._parser, self._until_close = None, False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(status, self._reason, dict(self._headers), b"".join(self._body)))


class GraphHttp:
    """Pooled keep-alive connections, made on first use inside the running event loop (made again if used from
    another loop). At most `limit` requests are in flight; the others wait for a free slot within their timeout."""

    def __init__(self, *, timeout_seconds: float, connect_timeout_seconds: float = 5.0, limit: int = 200) -> None:
        self._timeout = timeout_seconds
        self._connect_timeout = connect_timeout_seconds
        self._limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._idle, self._slots = loop, {}, asyncio.Semaphore(self._limit)
            self._closed = False
        return loop

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """Trust other certificates than the system's (tests, a private CA)."""
        self._ssl = context

    async def request(
        self, method: str, url: str, *, headers: Iterable[tuple[str, str]] = (), body: bytes | None = None
    ) -> HttpResponse:
        """One request. Raises TimeoutError past the timeout, HttpTransportError when the connection fails, and
        ValueError for a URL or header that HTTP cannot carry."""
        loop = self._bind()
        target = _target(url)
        request = _head(method, target, headers, None if body is None and method == "GET" else len(body or b""))
        if body:
            request += body
        async with asyncio.timeout(self._timeout):
            async with self._slots:
                reused = self._reuse(target)
                if reused is not None:
                    try:
                        return await self._exchange(reused, target, request)
                    except HttpTransportError as exc:
                        if exc.answered:
                            raise
                        # The server closed this idle connection as we sent: it has not seen the request.
                return await self._exchange(await self._connect(loop, target), target, request)

    async def _exchange(self, connection: _Connection, target: _Target, request: bytes) -> HttpResponse:
        waiter: asyncio.Future[HttpResponse] = asyncio.get_running_loop().create_future()
        try:
            connection.send(request, waiter)
            response = await waiter
        except BaseException:
            connection.close()  # a request cut short leaves the connection in an unknown state
            raise
        if connection.closed or self._closed:
            connection.close()
        else:
            connection.idle_since = time.monotonic()
            self._idle.setdefault((target.scheme, target.host, target.port), []).append(connection)
        return response

    def _reuse(self, target: _Target) -> _Connection | None:
        idle = self._idle.get((target.scheme, target.host, target.port))
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            transport = connection.transport
            alive = not connection.closed and transport is not None and not transport.is_closing()
            if alive and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, target: _Target) -> _Connection:
        secure = target.scheme == "https"
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    _Connection,
                    target.host,
                    target.port,
                    ssl=self.ssl_context() if secure else None,
                    server_hostname=target.host if secure else None,
                )
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise HttpTransportError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
        return connection

    async def close(self) -> None:
        """Close the idle connections; those of requests still running close when they end."""
        self._closed = True
        idle, self._idle = self._idle, {}
        if self._loop is asyncio.get_running_loop():
            for connections in idle.values():
                for connection in connections:
                    connection.close()
