"""The Graph API's connection pool against real sockets on loopback: a scripted HTTP server answers each request
with bytes chosen by the test, so keep-alive, chunked bodies, closes, timeouts, garbage and TLS are all exercised
for real."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from whatsapp_builder.whatsapp.graph_client import GraphApiError, GraphClient
from whatsapp_builder.whatsapp.graph_http import GraphHttp, HttpTransportError

Answer = Callable[[bytes], bytes | None]  # request head+body -> raw response (None: say nothing)

OK_JSON = b'{"messaging_product":"whatsapp","messages":[{"id":"wamid.OK"}]}'


def ok(body: bytes = OK_JSON, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


class Scripted:
    """A loopback HTTP/1.1 server; `answer` decides each response. Counts connections and keeps requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                response = self.answer(request)
                if response is None:
                    await reader.read()  # say nothing until the client gives up and closes
                    break
                writer.write(response)
                await writer.drain()
                if b"Connection: close" in response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=ssl_context)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    servers: list[Scripted] = []

    async def start(answer: Answer, ssl_context: ssl.SSLContext | None = None) -> tuple[Scripted, str]:
        scripted = Scripted(answer)
        servers.append(scripted)
        return scripted, await scripted.start(ssl_context)

    yield start
    for scripted in servers:
        assert scripted.server is not None
        scripted.server.close()


async def test_keeps_connections_alive_and_sends_what_graph_expects(serve) -> None:  # type: ignore[no-untyped-def]
    scripted, url = await serve(lambda request: ok())
    http = GraphHttp(timeout_seconds=2)
    client = GraphClient(http, url, "v23.0")
    for _ in range(5):
        assert await client.send_message("123", "token", {"to": "1", "type": "text"}) == "wamid.OK"
    assert scripted.connections == 1
    head = scripted.requests[0].decode()
    assert head.startswith("POST /v23.0/123/messages HTTP/1.1\r\n")
    assert f"Host: {url.removeprefix('http://')}\r\n" in head
    assert "Authorization: Bearer token\r\n" in head
    assert "Content-Type: application/json\r\n" in head
    assert head.endswith('\r\n\r\n{"to":"1","type":"text"}')
    # Concurrent requests each get a connection of their own, then share them.
    await asyncio.gather(*(client.send_message("123", "token", {}) for _ in range(10)))
    assert scripted.connections <= 10
    await http.close()


async def test_get_with_query_and_error_answers(serve) -> None:  # type: ignore[no-untyped-def]
    body = b'{"error":{"message":"Too many","type":"OAuthException","code":130429}}'
    answers = iter(
        [
            ok(b'{"display_phone_number":"+1 555"}'),
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        ]
    )
    scripted, url = await serve(lambda request: next(answers))
    http = GraphHttp(timeout_seconds=2)
    client = GraphClient(http, url, "v23.0")
    assert await client.phone_number("123", "token") == {"display_phone_number": "+1 555"}
    assert scripted.requests[0].startswith(
        b"GET /v23.0/123?fields=display_phone_number%2Cverified_name%2Cquality_rating HTTP/1.1\r\n"
    )
    assert b"Content-Length" not in scripted.requests[0]
    with pytest.raises(GraphApiError) as info:
        await client.send_message("123", "token", {})
    assert (info.value.http_status, info.value.code, info.value.retryable, info.value.retry_after) == (
        429,
        130429,
        True,
        7.0,
    )
    assert scripted.connections == 1  # an error answer keeps the connection
    await http.close()


async def test_chunked_bodies_and_connection_close(serve) -> None:  # type: ignore[no-untyped-def]
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"10\r\n" + OK_JSON[:16] + b"\r\n" + b"%x\r\n" % len(OK_JSON[16:]) + OK_JSON[16:] + b"\r\n0\r\n\r\n"
    )
    answers = iter([chunked, ok(extra=b"Connection: close\r\n"), ok()])
    scripted, url = await serve(lambda request: next(answers))
    http = GraphHttp(timeout_seconds=2)
    client = GraphClient(http, url, "v23.0")
    assert await client.send_message("1", "t", {}) == "wamid.OK"
    assert await client.send_message("1", "t", {}) == "wamid.OK"
    assert await client.send_message("1", "t", {}) == "wamid.OK"
    assert scripted.connections == 2  # the server's "Connection: close" was honoured
    await http.close()


async def test_failures_are_classified_and_never_reused(serve) -> None:  # type: ignore[no-untyped-def]
    answers = iter([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{", b"garbage\r\n\r\n", None, ok()])

    scripted, url = await serve(lambda request: next(answers))
    http = GraphHttp(timeout_seconds=0.5)
    client = GraphClient(http, url, "v23.0")
    # A body that never arrives in full, a response that is not HTTP, no answer at all; then a good one.
    with pytest.raises(GraphApiError) as info:
        await client.send_message("1", "t", {})
    assert (info.value.type, info.value.retryable) == ("timeout", True)
    with pytest.raises(GraphApiError) as info:
        await client.send_message("1", "t", {})
    assert (info.value.type, info.value.retryable) == ("bad_response", False)  # it answered: never twice
    with pytest.raises(GraphApiError) as info:
        await client.send_message("1", "t", {})
    assert (info.value.type, info.value.retryable) == ("timeout", True)
    assert await client.send_message("1", "t", {}) == "wamid.OK"
    assert scripted.connections == 4  # every failed connection was dropped
    await http.close()


async def test_an_answer_cut_short_is_not_sent_again(serve) -> None:  # type: ignore[no-untyped-def]
    """The server had the request: sending it again could deliver the message twice."""
    _, url = await serve(lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{")
    http = GraphHttp(timeout_seconds=2)
    with pytest.raises(GraphApiError) as info:
        await GraphClient(http, url, "v23.0").send_message("1", "t", {})
    assert (info.value.type, info.value.retryable) == ("bad_response", False)
    await http.close()


async def test_a_body_that_ends_at_the_close_and_a_connection_the_server_closed(serve) -> None:  # type: ignore[no-untyped-def]
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + OK_JSON
    answers = iter([until_close, ok(), ok(), ok()])

    def answer(request: bytes) -> bytes | None:
        return next(answers)

    scripted, url = await serve(answer)
    http = GraphHttp(timeout_seconds=2)
    client = GraphClient(http, url, "v23.0")
    assert await client.send_message("1", "t", {}) == "wamid.OK"  # no length, no chunks: the close ends it
    assert await client.send_message("1", "t", {}) == "wamid.OK"
    # The server drops the kept-alive connection (as an idle timeout does): the next request goes on a new one.
    assert scripted.writers
    scripted.writers[-1].close()
    assert await client.send_message("1", "t", {}) == "wamid.OK"
    assert scripted.connections == 3
    await http.close()


async def test_unreachable_hosts_and_unsendable_headers() -> None:
    http = GraphHttp(timeout_seconds=2)
    with pytest.raises(GraphApiError) as info:
        await GraphClient(http, "http://127.0.0.1:9", "v23.0").send_message("1", "t", {})
    assert (info.value.type, info.value.retryable) == ("network", True)
    # A token with a line break would smuggle a header: refused, and the config is to blame.
    with pytest.raises(GraphApiError) as info:
        await GraphClient(http, "http://127.0.0.1:9", "v23.0").send_message("1", "t\r\nX-Evil: 1", {})
    assert (info.value.retryable, info.value.config_problem) == (False, True)
    with pytest.raises(HttpTransportError):
        await http.request("GET", "http://127.0.0.1:9/")
    with pytest.raises(ValueError):
        await http.request("GET", "ftp://example.com/")
    await http.close()


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_https_verifies_the_certificate(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server_tls, client_tls = _self_signed(tmp_path)
    scripted, url = await serve(lambda request: ok(), server_tls)
    # The system's trust store does not know this certificate: refused.
    http = GraphHttp(timeout_seconds=2)
    with pytest.raises(GraphApiError) as info:
        await GraphClient(http, url, "v23.0").send_message("1", "t", {})
    assert info.value.type == "network" and "CERTIFICATE_VERIFY_FAILED" in (info.value.message or "")
    http.use_ssl_context(client_tls)
    for _ in range(3):
        assert await GraphClient(http, url, "v23.0").send_message("1", "t", {}) == "wamid.OK"
    assert scripted.requests[-1].startswith(b"POST /v23.0/1/messages HTTP/1.1\r\n")
    assert scripted.connections == 1  # one kept-alive connection (the refused handshake never got that far)
    await http.close()


def test_works_on_uvloop_as_the_server_runs_it() -> None:
    """`serve` runs on uvloop, whose transports are not asyncio's classes."""
    import uvloop

    async def exchange() -> tuple[str, int]:
        scripted = Scripted(lambda request: ok())
        url = await scripted.start()
        http = GraphHttp(timeout_seconds=2)
        try:
            wamids = [await GraphClient(http, url, "v23.0").send_message("1", "t", {}) for _ in range(3)]
        finally:
            await http.close()
            assert scripted.server is not None
            scripted.server.close()
        return wamids[-1], scripted.connections

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(exchange()) == ("wamid.OK", 1)
