"""The HTTP effect of ``http_request`` nodes: a protocol the engine calls, and a safe implementation.

:class:`SafeHttpPerformer` only talks to public addresses (unless ``allow_private``): it resolves the host
itself, refuses private, loopback, link-local, multicast, reserved and unspecified addresses (IPv4 and IPv6,
including IPv4-mapped IPv6), and connects to the address it checked. Every failure becomes an
``HttpResult(ok=False, error=...)``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json as jsonlib
import socket
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class HttpRequestSpec:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    json: Any | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class HttpResult:
    ok: bool
    status: int | None = None
    json: Any | None = None
    text: str | None = None
    error: str | None = None


class HttpPerformer(Protocol):
    async def perform(self, request: HttpRequestSpec) -> HttpResult: ...


class RequestDeferred(Exception):
    """Raised by a performer that will not make requests here: the whole turn is given up (not the request
    failed), to be run again where it may (flows/runner.py runs such a turn outside its batch)."""


def is_public_address(address: IPAddress) -> bool:
    """False for private, loopback, link-local, multicast, reserved, unspecified (and mapped/6to4 forms)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
        if address.teredo is not None or address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


class _Refused(Exception):
    pass


class SafeHttpPerformer:
    """Performs ``http_request`` nodes with ``client``; refuses non-public addresses by default."""

    def __init__(
        self, client: httpx.AsyncClient, allow_private: bool = False, max_response_bytes: int = 1_000_000
    ) -> None:
        self._client = client
        self._allow_private = allow_private
        self._max_bytes = max_response_bytes

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise _Refused(f"cannot resolve host {host!r}: {exc}") from exc
        addresses: list[IPAddress] = []
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]
            try:
                addresses.append(ipaddress.ip_address(raw))
            except ValueError:
                continue
        if not addresses:
            raise _Refused(f"host {host!r} has no address")
        return addresses

    async def _target(self, url: str) -> tuple[str, str]:
        """The URL to connect to (host replaced by the checked address) and the original Host header."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Refused(f"only http and https URLs are allowed, not {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise _Refused("the URL has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise _Refused(f"invalid port: {exc}") from exc
        addresses = await self._resolve(host, port)
        if not self._allow_private:
            bad = [a for a in addresses if not is_public_address(a)]
            if bad:
                raise _Refused(f"refused non-public address {bad[0]} for host {host!r}")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if parts.scheme == "https":
            # TLS needs the real host name (SNI, certificate); all resolved addresses were checked above.
            return url, netloc
        address = addresses[0]
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path, parts.query, ""))
        return pinned, netloc

    async def perform(self, request: HttpRequestSpec) -> HttpResult:
        try:
            return await self._perform(request)
        except _Refused as exc:
            return HttpResult(ok=False, error=str(exc))
        except (httpx.TimeoutException, TimeoutError):
            return HttpResult(ok=False, error="timeout")
        except (httpx.HTTPError, OSError, ValueError, TypeError, UnicodeError) as exc:
            return HttpResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    async def _perform(self, request: HttpRequestSpec) -> HttpResult:
        url, host = await self._target(request.url)
        # Values as UTF-8 bytes: a templated value ("{{contact.name}}" of a customer named Zoë) is not ASCII, which
        # httpx would refuse for a str.
        headers = [(k.encode(), v.encode()) for k, v in request.headers.items() if k.lower() != "host"]
        headers.append((b"Host", host.encode()))
        timeout = httpx.Timeout(max(0.1, min(request.timeout, 30.0)))
        content = request.body if request.json is None else None
        async with (
            asyncio.timeout(max(0.1, min(request.timeout, 30.0)) + 1),
            self._client.stream(
                request.method.upper(),
                url,
                headers=headers,
                content=content,
                json=request.json,
                timeout=timeout,
                follow_redirects=False,
            ) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    return HttpResult(ok=False, status=response.status_code, error="response too large")
                chunks.append(chunk)
        raw = b"".join(chunks)
        text = raw.decode(response.encoding or "utf-8", errors="replace")
        try:
            parsed: Any = jsonlib.loads(text) if text.strip() else None
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            parsed = None
        ok = 200 <= response.status_code < 300
        # What PostgreSQL cannot store (U+0000, half a surrogate pair) mended as for webhooks: the answer goes into
        # the context's variables, and a NUL there failed the whole turn.
        from whatsapp_builder.whatsapp.ingest import storable

        return HttpResult(
            ok=ok,
            status=response.status_code,
            json=storable(parsed),
            text=storable(text),
            error=None if ok else f"HTTP {response.status_code}",
        )
