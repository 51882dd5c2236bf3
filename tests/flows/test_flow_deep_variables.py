"""HTTP responses nested deeper than MAX_JSON_DEPTH are cut before they become variables (a real loopback server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.flows.flowkit import Bot, chain, edge, graph_of, node
from whatsapp_builder.chatbots.schemas import TestRunOut as TranscriptOut
from whatsapp_builder.flows import SafeHttpPerformer
from whatsapp_builder.flows.nesting import MAX_JSON_DEPTH, json_depth_exceeds
from whatsapp_builder.flows.testrun import test_run as run_test


async def serve_json(body: bytes) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


@pytest.fixture
async def deep_api() -> AsyncIterator[str]:
    body = b'{"data": ' + b"[" * 400 + b'"bottom"' + b"]" * 400 + b"}"
    server = await serve_json(body)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/deep"


def http_graph(url: str, path: str = "") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, edges = chain(
        node("call", "http_request", method="GET", url=url, timeoutSeconds=5,
             responseMapping=[{"variable": "resp", "path": path}], statusVariable="status"),
    )
    nodes.append(node("done", "end", text="done"))
    edges.append(edge("call", "done", "success"))
    return nodes, edges


def depth(value: Any) -> int:
    levels = 0
    while isinstance(value, dict | list) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        levels += 1
    return levels if value is None or not isinstance(value, dict | list) else levels + 1


@pytest.mark.parametrize("path", ["", "data"])
async def test_a_deep_response_is_cut_before_it_is_stored(deep_api: str, path: str) -> None:
    async with httpx.AsyncClient() as client:
        bot = Bot(graph_of(*http_graph(deep_api, path)), http=SafeHttpPerformer(client, allow_private=True))  # type: ignore[arg-type]
        result = await bot.send("hi")
    assert result.ended_reason == "completed", result.log
    resp = result.state.variables["resp"]
    assert not json_depth_exceeds(resp) and json_depth_exceeds(resp, MAX_JSON_DEPTH - 1)
    assert depth(resp) == MAX_JSON_DEPTH  # the deepest kept level holds null where the rest was
    assert result.state.variables["status"] == 200
    assert any("cut to" in line for line in result.log)


async def test_a_test_run_with_a_deep_response_can_be_served(deep_api: str) -> None:
    async with httpx.AsyncClient() as client:
        steps = await run_test(*http_graph(deep_api), ["hi"], http=SafeHttpPerformer(client, allow_private=True))
    TranscriptOut(steps=[s.to_dict() for s in steps]).model_dump_json()  # raised before: too deep to serialize


async def test_a_response_deeper_than_the_json_parser_goes_is_no_json() -> None:
    server = await serve_json(b"[" * 200_000 + b"]" * 200_000)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient() as client:
        bot = Bot(graph_of(*http_graph(f"http://127.0.0.1:{port}/")),
                  http=SafeHttpPerformer(client, allow_private=True))  # type: ignore[arg-type]
        result = await bot.send("hi")
    assert result.ended_reason == "completed" and result.state.variables["resp"] is None, result.log


async def test_a_path_with_a_digit_python_cannot_count_with_maps_nothing() -> None:
    """'²' is a digit to str.isdigit() but not to int(): the turn raised and the bot never answered."""
    server = await serve_json(b'{"items": ["first", "second"]}')
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient() as client:
        graph = graph_of(*http_graph(f"http://127.0.0.1:{port}/list", "items.\u00b2"))
        bot = Bot(graph, http=SafeHttpPerformer(client, allow_private=True))  # type: ignore[arg-type]
        result = await bot.send("hi")
    assert result.ended_reason == "completed", result.log
    assert result.state.variables["resp"] is None
