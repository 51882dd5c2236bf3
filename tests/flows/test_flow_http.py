from __future__ import annotations

import asyncio
import ipaddress
import json

import httpx
import pytest

from whatsapp_builder.flows import HttpRequestSpec, SafeHttpPerformer
from whatsapp_builder.flows.http import is_public_address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201,
        json={
            "method": request.method,
            "url": str(request.url),
            "host": request.headers.get("host"),
            "body": request.content.decode(),
        },
    )


async def test_refuses_loopback_by_default() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        performer = SafeHttpPerformer(client)
        for url in ("http://127.0.0.1:8080/x", "http://[::ffff:127.0.0.1]/", "http://localhost/x"):
            result = await performer.perform(HttpRequestSpec(method="GET", url=url))
            assert not result.ok and result.error and "refused" in result.error, url
    assert calls == []


async def test_allows_loopback_when_allowed() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(_echo)) as client:
        performer = SafeHttpPerformer(client, allow_private=True)
        result = await performer.perform(
            HttpRequestSpec(method="post", url="http://127.0.0.1:8080/items?q=1", json={"a": 1}, timeout=2)
        )
    assert result.ok and result.status == 201 and result.error is None
    assert isinstance(result.json, dict)
    assert result.json["method"] == "POST"
    assert result.json["url"] == "http://127.0.0.1:8080/items?q=1"
    assert result.json["host"] == "127.0.0.1:8080"
    assert json.loads(result.json["body"]) == {"a": 1}
    assert isinstance(result.text, str)


async def test_real_loopback_server() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"greeting": "hello"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://localhost:{port}/hello"
    async with server, httpx.AsyncClient() as client:
        refused = await SafeHttpPerformer(client).perform(HttpRequestSpec(method="GET", url=url))
        allowed = await SafeHttpPerformer(client, allow_private=True).perform(
            HttpRequestSpec(method="GET", url=url, timeout=5)
        )
    assert not refused.ok and refused.status is None
    assert allowed.ok and allowed.status == 200 and allowed.json == {"greeting": "hello"}


async def test_other_schemes_and_bad_urls_fail_softly() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(_echo)) as client:
        performer = SafeHttpPerformer(client, allow_private=True)
        for url in ("file:///etc/passwd", "ftp://example.com/", "http://", "not a url", "http://127.0.0.1:99999/"):
            result = await performer.perform(HttpRequestSpec(method="GET", url=url))
            assert not result.ok and result.error, url


async def test_non_2xx_too_large_and_transport_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 2000)
        if request.url.path == "/boom":
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(404, text="nope")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        performer = SafeHttpPerformer(client, allow_private=True, max_response_bytes=1000)
        missing = await performer.perform(HttpRequestSpec(method="GET", url="http://127.0.0.1/x"))
        assert not missing.ok and missing.status == 404 and missing.text == "nope" and missing.json is None
        big = await performer.perform(HttpRequestSpec(method="GET", url="http://127.0.0.1/big"))
        assert not big.ok and big.error == "response too large"
        boom = await performer.perform(HttpRequestSpec(method="GET", url="http://127.0.0.1/boom"))
        assert not boom.ok and boom.error and "ConnectError" in boom.error
        slow = await performer.perform(HttpRequestSpec(method="GET", url="http://127.0.0.1/slow"))
        assert not slow.ok and slow.error == "timeout"


async def test_unicode_header_values_are_sent_and_unstorable_answers_are_mended() -> None:
    """A templated header of a customer named Zoë goes out (UTF-8), and an answer holding U+0000 or NaN comes
    back as values PostgreSQL can store in the context."""
    seen: dict[str, bytes] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["header"] = dict(request.headers.raw)[b"X-Customer"]
        return httpx.Response(200, content=b'{"a": NaN, "c": "\\u0000x", "d": "ok"}',
                              headers={"Content-Type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        performer = SafeHttpPerformer(client, allow_private=True)
        result = await performer.perform(
            HttpRequestSpec(method="GET", url="http://127.0.0.1/x", headers={"X-Customer": "Zoë"}))
    assert result.ok, result.error
    assert seen["header"] == "Zoë".encode()
    assert result.json == {"a": None, "c": "x", "d": "ok"} and "\x00" not in (result.text or "")
