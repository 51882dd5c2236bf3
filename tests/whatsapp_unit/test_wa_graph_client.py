"""GraphClient against httpx.MockTransport: request shape, error classification, backoff."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from whatsapp_builder.whatsapp.delivery import error_dict
from whatsapp_builder.whatsapp.graph_client import GraphApiError, GraphClient, backoff_delay

Handler = Callable[[httpx.Request], httpx.Response]


def meta_error(code: int, http_status: int = 400, details: str | None = "d", **extra: Any) -> httpx.Response:
    error: dict[str, Any] = {"message": f"(#{code}) boom", "type": "OAuthException", "code": code, **extra}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "AbC"
    return httpx.Response(http_status, json={"error": error})


async def call(handler: Handler, payload: dict[str, Any] | None = None) -> str:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = GraphClient(http, "https://graph.example.com/", "v23.0")
        return await client.send_message("123", "tok", payload or {"messaging_product": "whatsapp"})


async def error_of(handler: Handler) -> GraphApiError:
    with pytest.raises(GraphApiError) as info:
        await call(handler)
    return info.value


async def test_send_message_request_and_wamid() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": "+1555", "wa_id": "1555"}],
                "messages": [{"id": "wamid.OK"}],
            },
        )

    payload = {"messaging_product": "whatsapp", "to": "1555", "type": "text", "text": {"body": "hi"}}
    assert await call(handler, payload) == "wamid.OK"
    (request,) = seen
    assert str(request.url) == "https://graph.example.com/v23.0/123/messages"
    assert request.headers["authorization"] == "Bearer tok"
    assert json.loads(request.content) == payload


async def test_mark_as_read_with_typing_indicator() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = GraphClient(http, "https://graph.example.com", "v23.0")
        await client.mark_as_read("123", "tok", "wamid.IN")
        await client.mark_as_read("123", "tok", "wamid.IN", typing_indicator=True)
    assert bodies == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"},
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.IN",
            "typing_indicator": {"type": "text"},
        },
    ]


@pytest.mark.parametrize("code", [130429, 131056, 80007, 131000, 1, 2, 131016])
async def test_retryable_codes(code: int) -> None:
    err = await error_of(lambda _: meta_error(code))
    assert (err.code, err.retryable, err.config_problem, err.http_status) == (code, True, False, 400)


@pytest.mark.parametrize("code", [131047, 131026, 131049, 131050, 131009, 100, 131008])
async def test_permanent_codes(code: int) -> None:
    err = await error_of(lambda _: meta_error(code, details="Button title length invalid"))
    assert (err.code, err.retryable, err.config_problem) == (code, False, False)
    assert err.details == "Button title length invalid"
    assert err.message == f"(#{code}) boom"


@pytest.mark.parametrize(("code", "status"), [(190, 401), (0, 401), (131031, 403)])
async def test_config_codes(code: int, status: int) -> None:
    err = await error_of(lambda _: meta_error(code, http_status=status, details=None, error_subcode=463))
    assert (err.code, err.retryable, err.config_problem, err.subcode) == (code, False, True, 463)


async def test_http_429_with_retry_after() -> None:
    err = await error_of(lambda _: httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"))
    assert (err.http_status, err.code, err.retryable, err.retry_after) == (429, None, True, 7.0)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_http_5xx_without_json(status: int) -> None:
    err = await error_of(lambda _: httpx.Response(status, text="<html>bad gateway</html>"))
    assert (err.http_status, err.retryable, err.config_problem) == (status, True, False)


async def test_codes_sent_as_text_are_read_and_odd_digits_are_no_code() -> None:
    assert (await error_of(lambda _: meta_error("131047"))).code == 131047  # type: ignore[arg-type]
    # "²" is a digit to str.isdigit() but not to int(): reading the error raised instead of failing the send.
    err = await error_of(lambda _: meta_error("\u00b2"))  # type: ignore[arg-type]
    assert err.code is None and err.http_status == 400


async def test_unknown_4xx_is_not_retried() -> None:
    err = await error_of(lambda _: meta_error(12345))
    assert not err.retryable


async def test_timeout_and_network_errors_are_retryable() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    for handler in (timeout, refused):
        err = await error_of(handler)
        assert (err.http_status, err.retryable, err.config_problem) == (None, True, False)


async def test_success_without_message_id_is_not_retried() -> None:
    err = await error_of(lambda _: httpx.Response(200, json={"messaging_product": "whatsapp"}))
    assert not err.retryable
    err = await error_of(lambda _: httpx.Response(200, text="not json"))
    assert not err.retryable


def _err(code: int | None = None, retry_after: float | None = None) -> GraphApiError:
    return GraphApiError(429, code, None, None, None, None, True, retry_after)


def test_backoff_full_jitter_and_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(300.0, 2.0**attempt)
        values = [backoff_delay(attempt, _err(), rng=rng) for _ in range(50)]
        assert all(0.0 <= v <= ceiling for v in values)
        assert max(values) > ceiling / 4  # really jittered over the range
    assert backoff_delay(10_000, _err(), rng=rng) <= 300.0


def test_backoff_pair_rate_limit_and_retry_after() -> None:
    assert [backoff_delay(n, _err(131056)) for n in (1, 2, 3, 4)] == [4.0, 16.0, 64.0, 256.0]
    assert backoff_delay(5, _err(131056)) == 300.0
    assert backoff_delay(1, _err(retry_after=42.0), rng=random.Random(0)) == 42.0
    assert backoff_delay(1, _err(), base=0.5, cap=0.75, rng=random.Random(0)) <= 0.75


async def test_a_send_error_is_titled_for_people_and_keeps_metas_type() -> None:
    undeliverable = {
        "message": "(#131026) Message Undeliverable.",
        "type": "OAuthException",
        "code": 131026,
        "error_data": {"messaging_product": "whatsapp", "details": "The recipient is not on WhatsApp."},
        "error_subcode": 2494010,
        "fbtrace_id": "AXyz123",
    }
    err = await error_of(lambda _: httpx.Response(400, json={"error": undeliverable}))
    assert (err.title, err.type, err.fbtrace_id) == ("Message Undeliverable", "OAuthException", "AXyz123")
    assert (err.message, err.details, err.subcode) == (
        "(#131026) Message Undeliverable.",
        "The recipient is not on WhatsApp.",
        2494010,
    )
    stored = error_dict(err)
    assert stored["title"] == "Message Undeliverable" and stored["type"] == "OAuthException"
    assert stored["fbtraceId"] == "AXyz123" and stored["source"] == "whatsapp"
    assert err.as_dict()["title"] == "Message Undeliverable" and err.as_dict()["type"] == "OAuthException"


@pytest.mark.parametrize(
    ("error", "title"),
    [
        # error_user_title wins when Meta sends one
        (
            {
                "message": "(#100) Invalid parameter",
                "type": "OAuthException",
                "code": 100,
                "error_user_title": "Invalid image",
                "error_user_msg": "The image is larger than 5 MB.",
            },
            "Invalid image",
        ),
        # no "(#code)" prefix: our title for the code
        (
            {
                "message": "Error validating access token: Session has expired.",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
            },
            "Access token is invalid or has expired",
        ),
        ({"message": "Unsupported post request.", "type": "GraphMethodException", "code": 100}, "Invalid parameter"),
        # an unknown code without a prefix: the message itself, never the type
        ({"message": "Something odd", "type": "OAuthException", "code": 999999}, "Something odd"),
        ({"type": "OAuthException", "code": 131047}, "Re-engagement message"),
        ({"type": "OAuthException"}, None),
    ],
)
async def test_error_titles(error: dict[str, Any], title: str | None) -> None:
    err = await error_of(lambda _: httpx.Response(400, json={"error": error}))
    assert err.title == title
    assert err.type == error["type"]


async def test_an_answer_that_is_not_metas_json_is_titled_by_its_http_status() -> None:
    err = await error_of(lambda _: httpx.Response(502, text="<html>bad gateway</html>"))
    assert (err.title, err.type, err.retryable) == ("HTTP 502 Bad Gateway", None, True)
    assert err.message == "<html>bad gateway</html>"


async def test_transport_failures_have_a_title_and_a_kind() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    refused, timed_out = await error_of(refuse), await error_of(slow)
    assert (refused.type, refused.title) == ("network", "Could not reach the Graph API")
    assert (timed_out.type, timed_out.title) == ("timeout", "The Graph API did not answer in time")


def test_error_str_and_dict() -> None:
    err = GraphApiError(400, 131009, None, None, "(#131009) Parameter value is not valid", "title too long", False)
    assert "131009" in str(err) and "title too long" in str(err)
    assert err.as_dict()["code"] == 131009


def test_a_status_error_without_a_title_gets_one() -> None:
    from whatsapp_builder.whatsapp.statuses import error_from_status

    titled = {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable", "details": "d"}
    assert error_from_status([titled])["title"] == "Message undeliverable"  # type: ignore[index]
    untitled = {"code": 131047, "title": None, "message": None, "details": None}
    assert error_from_status([untitled])["title"] == "Re-engagement message"  # type: ignore[index]
