"""A thin async client for the Graph API's send endpoint, with errors classified for retry decisions.

It speaks through `GraphHttp` in production (whatsapp/graph_http.py: sends are the hottest HTTP path of the
system, and it costs a fraction of a general-purpose client's CPU per request). An `httpx.AsyncClient` works too
(tests drive it through `httpx.MockTransport`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from whatsapp_builder.core import fastjson
from whatsapp_builder.core.schemas import text_problem
from whatsapp_builder.whatsapp.error_titles import error_title
from whatsapp_builder.whatsapp.graph_http import GraphHttp, HttpTransportError
from whatsapp_builder.whatsapp.ingest import WAMID_LIMIT
from whatsapp_builder.whatsapp.parser import valid_bsuid

# whatsapp-cloud-api.md, "Errors that decide retry or fail"
RETRYABLE_CODES = frozenset({130429, 131056, 80007, 131000, 1, 2, 131016})
PERMANENT_CODES = frozenset({131047, 131026, 131049, 131050, 131009, 100, 131008})
CONFIG_CODES = frozenset({190, 0, 131031})
PAIR_RATE_LIMIT_CODE = 131056


@dataclass(eq=False)
class GraphApiError(Exception):
    """A failed Graph API call, classified: retry it, fail it, or flag the WhatsApp config."""

    http_status: int | None
    code: int | None
    subcode: int | None
    title: str | None
    message: str | None
    details: str | None
    retryable: bool
    retry_after: float | None = None
    config_problem: bool = False
    type: str | None = None
    """Meta's error type (``OAuthException``...), or what went wrong on our side (``timeout``, ``network``...)."""
    fbtrace_id: str | None = None

    def __post_init__(self) -> None:
        Exception.__init__(self, self.__str__())

    def __str__(self) -> str:
        parts = [f"Graph API error (HTTP {self.http_status}, code {self.code})"]
        if self.message:
            parts.append(self.message)
        if self.details:
            parts.append(self.details)
        return ": ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form, for storing on a failed message."""
        return {
            "httpStatus": self.http_status,
            "code": self.code,
            "subcode": self.subcode,
            "title": self.title,
            "message": self.message,
            "details": self.details,
            "type": self.type,
            "fbtraceId": self.fbtrace_id,
            "retryable": self.retryable,
            "configProblem": self.config_problem,
        }


def classify(http_status: int | None, code: int | None) -> tuple[bool, bool]:
    """``(retryable, config_problem)`` for an error code and/or HTTP status."""
    if code is not None:
        if code in CONFIG_CODES:
            return False, True
        if code in RETRYABLE_CODES:
            return True, False
        if code in PERMANENT_CODES:
            return False, False
    if http_status is None:
        return True, False  # network failure or timeout
    if http_status == 429 or http_status >= 500:
        return True, False
    if http_status == 401 and code is None:
        return False, True
    return False, False


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        digits = value.strip().lstrip("-")
        if digits.isascii() and digits.isdigit():  # not "²": a digit to isdigit(), not to int()
            return int(value)
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class GraphResponse:
    """What the client keeps of an HTTP answer, whichever library fetched it."""

    status_code: int
    body: bytes
    reason_phrase: str = ""
    retry_after_header: str | None = None

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return fastjson.loads(self.body)


def _retry_after(response: GraphResponse) -> float | None:
    value = response.retry_after_header
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(response: GraphResponse) -> GraphApiError:
    """Build a `GraphApiError` from a non-2xx Graph API answer (Meta's ``{"error": {...}}`` shape)."""
    error: dict[str, Any] = {}
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
    code = _int_or_none(error.get("code"))
    raw_data = error.get("error_data")
    error_data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    details = _str_or_none(error_data.get("details")) or _str_or_none(error.get("error_user_msg"))
    retryable, config_problem = classify(response.status_code, code)
    message = _str_or_none(error.get("message"))
    title = error_title(code, message, _str_or_none(error.get("error_user_title")))
    if message is None and not error:
        # Not Meta's JSON (a proxy's page, an empty body): the HTTP status is the best title there is.
        message = response.text[:500] or response.reason_phrase
        title = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return GraphApiError(
        http_status=response.status_code,
        code=code,
        subcode=_int_or_none(error.get("error_subcode")),
        title=title,
        message=message,
        details=details,
        retryable=retryable,
        retry_after=_retry_after(response),
        config_problem=config_problem,
        type=_str_or_none(error.get("type")),
        fbtrace_id=_str_or_none(error.get("fbtrace_id")),
    )


def backoff_delay(
    attempt: int,
    error: GraphApiError,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential backoff with full jitter (a uniform draw in ``[0, min(cap, base * 2**attempt)]``); the pair
    rate limit 131056 waits ``4**attempt`` seconds; a ``Retry-After`` from the server is a lower bound.
    """
    attempt = max(1, min(attempt, 30))
    if error.code == PAIR_RATE_LIMIT_CODE:
        delay = float(min(cap, 4**attempt))
    else:
        ceiling = min(cap, base * (2**attempt))
        delay = (rng or random.Random()).uniform(0.0, ceiling)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return delay


HttpClient = GraphHttp | httpx.AsyncClient


def _timeout(message: str) -> GraphApiError:
    return GraphApiError(
        None,
        None,
        None,
        "The Graph API did not answer in time",
        message or "request timed out",
        None,
        True,
        type="timeout",
    )


def _network(message: str) -> GraphApiError:
    return GraphApiError(None, None, None, "Could not reach the Graph API", message, None, True, type="network")


def _bad_response(http_status: int | None, message: str) -> GraphApiError:
    return GraphApiError(
        http_status, None, None, "Unexpected answer from the Graph API", message, None, False, type="bad_response"
    )


async def _request(
    http: HttpClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    payload: Any = None,
    params: dict[str, str] | None = None,
) -> GraphResponse:
    """One request through either library; transport failures become retryable `GraphApiError`s."""
    if isinstance(http, GraphHttp):
        pairs = list(headers.items())
        data = None
        if payload is not None:
            data = fastjson.dumps(payload)
            pairs.append(("Content-Type", "application/json"))
        if params:
            url = f"{url}?{urlencode(params)}"
        try:
            response = await http.request(method, url, headers=pairs, body=data)
        except TimeoutError as exc:
            raise _timeout(str(exc)) from exc
        except HttpTransportError as exc:
            if exc.answered:
                # The server had the request and began to answer: it may have been done, never send it twice.
                raise _bad_response(None, str(exc)) from exc
            raise _network(str(exc)) from exc
        except ValueError as exc:  # a URL or header (the access token) that HTTP cannot carry
            raise GraphApiError(
                None,
                None,
                None,
                "The request cannot be sent",
                str(exc),
                None,
                False,
                config_problem=True,
                type="bad_request",
            ) from exc
        return GraphResponse(response.status, response.body, response.reason, response.headers.get("retry-after"))
    try:
        answer = await http.request(method, url, json=payload, params=params, headers=headers)
    except httpx.TimeoutException as exc:
        raise _timeout(str(exc)) from exc
    except httpx.TransportError as exc:
        raise _network(str(exc) or type(exc).__name__) from exc
    return GraphResponse(answer.status_code, answer.content, answer.reason_phrase, answer.headers.get("retry-after"))


@dataclass(frozen=True)
class Sent:
    """A send WhatsApp accepted: its message id, and the recipient's business-scoped user id (BSUID) when the
    answer's `contacts` names it."""

    wamid: str
    recipient_user_id: str | None = None


class GraphClient:
    """Calls ``{base_url}/{version}/{phone_number_id}/messages`` on one pooled HTTP client."""

    def __init__(self, http: HttpClient, base_url: str, version: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._version = version.strip("/")

    def messages_url(self, phone_number_id: str) -> str:
        return f"{self._base_url}/{self._version}/{phone_number_id}/messages"

    async def _post(self, phone_number_id: str, access_token: str, payload: dict[str, Any]) -> Any:
        response = await _request(
            self._http,
            "POST",
            self.messages_url(phone_number_id),
            payload=payload,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if not response.is_success:
            raise error_from_response(response)
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad_response(response.status_code, "response is not JSON") from exc

    async def send_message(self, phone_number_id: str, access_token: str, payload: dict[str, Any]) -> str:
        """Send ``payload`` (a Graph API message body); return the WhatsApp message id (``wamid.…``)."""
        return (await self.send(phone_number_id, access_token, payload)).wamid

    async def send(self, phone_number_id: str, access_token: str, payload: dict[str, Any]) -> Sent:
        """Send ``payload``; return the WhatsApp message id and who WhatsApp says received it."""
        body = await self._post(phone_number_id, access_token, payload)
        messages = body.get("messages") if isinstance(body, dict) else None
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            # An id that cannot be stored (too long, U+0000, half a surrogate pair) is no WhatsApp id: taken,
            # recording it failed and the send was retried, reaching the customer again.
            if isinstance(wamid, str) and 0 < len(wamid) <= WAMID_LIMIT and text_problem(wamid) is None:
                contacts = body.get("contacts")
                contact = contacts[0] if isinstance(contacts, list) and contacts else None
                return Sent(wamid, valid_bsuid(contact.get("user_id")) if isinstance(contact, dict) else None)
        # The send may have been accepted: never retry blindly (it could be delivered twice).
        raise _bad_response(200, "no usable message id in the response")

    async def _get_object(
        self, segment: str, access_token: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """`GET /{version}/{segment}`: a Graph object's fields, or its error raised."""
        response = await _request(
            self._http,
            "GET",
            f"{self._base_url}/{self._version}/{segment}",
            params=params,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if not response.is_success:
            raise error_from_response(response)
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad_response(response.status_code, "not JSON") from exc
        return body if isinstance(body, dict) else {}

    async def phone_number(self, phone_number_id: str, access_token: str) -> dict[str, Any]:
        """The phone number's details (display number, verified name): proves the id and token work together."""
        fields = {"fields": "display_phone_number,verified_name,quality_rating"}
        return await self._get_object(phone_number_id, access_token, fields)

    async def media(self, media_id: str, access_token: str) -> dict[str, Any]:
        """A media object's details (`GET /{version}/{media-id}`): its download `url` (valid for 5 minutes, and
        only with the access token), `mime_type`, `sha256` and `file_size`."""
        return await self._get_object(quote(media_id, safe=""), access_token)

    async def mark_as_read(
        self,
        phone_number_id: str,
        access_token: str,
        wa_message_id: str,
        typing_indicator: bool = False,
    ) -> None:
        """Mark an inbound message as read, optionally showing the typing indicator."""
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wa_message_id,
        }
        if typing_indicator:
            payload["typing_indicator"] = {"type": "text"}
        await self._post(phone_number_id, access_token, payload)
