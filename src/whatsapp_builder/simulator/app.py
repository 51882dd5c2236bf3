"""The Cloud API simulator: an HTTP server standing in for Meta's Graph API send endpoint.

All state lives on a `SimulatorState` created by `create_simulator_app` and kept on ``app.state``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Literal

import aiohttp
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.types import Receive, Scope, Send

from whatsapp_builder.core import fastjson
from whatsapp_builder.core.limits import BodyTooLarge, read_body
from whatsapp_builder.core.phone import customer_phone
from whatsapp_builder.simulator import payloads
from whatsapp_builder.simulator.history import SendHistory, recipient_keys
from whatsapp_builder.simulator.media import MAX_UPLOAD_BYTES, MediaStore
from whatsapp_builder.simulator.settings import SimulatorSettings
from whatsapp_builder.simulator.validation import GraphRejection, check_send_body
from whatsapp_builder.whatsapp.signature import SIGNATURE_HEADER, sign

logger = logging.getLogger("whatsapp_builder.simulator")

FailureMode = Literal["http_429", "http_500", "timeout", "error_131047", "error_131026", "error_190", "error_130429"]

# (HTTP status, code, subcode, message, details) of each injected error, as Meta answers them: the message is
# "(#code) Title" for WhatsApp's codes, and the details say why.
_INJECTED: Mapping[str, tuple[int, int, int | None, str, str | None]] = MappingProxyType(
    {
        "http_429": (429, 4, None, "(#4) Application request limit reached", None),
        "http_500": (500, 131000, None, "(#131000) Something went wrong", "Something went wrong"),
        "error_131047": (
            400,
            131047,
            None,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied "
            "to this number.",
        ),
        "error_131026": (
            400,
            131026,
            None,
            "(#131026) Message Undeliverable.",
            "Unable to deliver the message. The recipient may not be on WhatsApp or may use an old version of it.",
        ),
        "error_190": (
            401,
            190,
            463,
            "Error validating access token: Session has expired on Sunday, 01-Nov-26 10:00:00 PST.",
            None,
        ),
        "error_130429": (
            400,
            130429,
            None,
            "(#130429) Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
    }
)


def _fbtrace_id() -> str:
    return secrets.token_urlsafe(8)


def graph_error(
    http_status: int,
    code: int,
    message: str,
    details: str | None = None,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> JSONResponse:
    """Meta's error answer: ``{"error": {"message", "type", "code", "error_subcode"?, "error_data"?,
    "fbtrace_id"}}``. The title has no field of its own: it is in the message, after ``(#code)``."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = _fbtrace_id()
    return JSONResponse({"error": error}, status_code=http_status)


@dataclass(slots=True)
class _Failure:
    mode: str
    remaining: int
    timeout_seconds: float


@dataclass
class SimulatorState:
    """Everything the simulator remembers; one per app instance."""

    settings: SimulatorSettings
    messages: SendHistory
    reads: deque[dict[str, Any]]
    failure: _Failure | None = None
    http: aiohttp.ClientSession | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    webhook_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    media: MediaStore = field(default_factory=MediaStore)
    statuses: StatusPoster = field(init=False)

    def __post_init__(self) -> None:
        self.statuses = StatusPoster(self)

    def take_failure(self) -> _Failure | None:
        failure = self.failure
        if failure is None or failure.remaining <= 0:
            self.failure = None
            return None
        failure.remaining -= 1
        if failure.remaining <= 0:
            self.failure = None
        return failure

    def client(self) -> aiohttp.ClientSession:
        if self.http is None:
            raise RuntimeError("the simulator's HTTP client is not running (lifespan not started)")
        return self.http


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


# ------------------------------------------------------------------------------- webhook delivery


@dataclass(frozen=True)
class WebhookAnswer:
    """The webhook's HTTP answer."""

    status_code: int
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class WebhookUnreachable(Exception):
    """The webhook URL could not be reached (connection refused, timeout)."""


async def post_signed(state: SimulatorState, payload: dict[str, Any], *, retries: int | None = None) -> WebhookAnswer:
    """POST ``payload`` to the webhook URL, signed with the app secret; retry non-2xx and network errors.

    Returns the last answer; raises `WebhookUnreachable` when the server was never reached.
    """
    settings = state.settings
    body = fastjson.dumps(payload)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, settings.app_secret)}
    attempts = 1 + (settings.webhook_retries if retries is None else retries)
    timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
    last_error: Exception | None = None
    answer: WebhookAnswer | None = None
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(settings.webhook_retry_base_seconds * (2 ** (attempt - 1)))
        try:
            async with state.client().post(settings.webhook_url, data=body, headers=headers, timeout=timeout) as r:
                answer = WebhookAnswer(r.status, await r.text(errors="replace"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            last_error = exc
            state.webhook_log.append({"error": repr(exc), "attempt": attempt})
            continue
        state.webhook_log.append({"status": answer.status_code, "attempt": attempt})
        if answer.is_success:
            return answer
    if answer is not None:
        return answer
    raise WebhookUnreachable(repr(last_error)) from last_error


async def _deliver_statuses(state: SimulatorState, record: dict[str, Any]) -> None:
    """sent, delivered, then read: each status is posted once the one before it was acknowledged."""
    settings = state.settings
    sequence = ["sent", "delivered"] + (["read"] if settings.auto_read else [])
    for status in sequence:
        if settings.status_delay_seconds:
            await asyncio.sleep(settings.status_delay_seconds)
        item = payloads.status_item(
            record["wamid"], status, recipient_id=record["to"], recipient_user_id=record["recipientUserId"]
        )
        if not await state.statuses.post(item):
            return


class StatusPoster:
    """Posts status webhooks, batching the statuses that wait while a post is in flight, as Meta does under load.

    At a trickle every status goes alone; when statuses pile up faster than the server acknowledges them, up to
    `status_batch_max` ride in one signed POST (one `changes[].value.statuses` list), so the simulator's own load
    grows with the number of posts rather than of statuses.
    """

    def __init__(self, state: SimulatorState) -> None:
        self._state = state
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._in_flight = 0

    async def post(self, item: dict[str, Any]) -> bool:
        """Queue one status item; returns whether the webhook carrying it was acknowledged (2xx)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._in_flight < self._state.settings.status_posts_in_flight:
            self._in_flight += 1
            _spawn(self._state, self._drain())
        return await future

    async def _drain(self) -> None:
        settings = self._state.settings
        try:
            while self._waiting:
                batch = self._waiting[: settings.status_batch_max]
                del self._waiting[: settings.status_batch_max]
                payload = payloads.status_envelope(
                    [item for item, _ in batch],
                    phone_number_id=settings.phone_number_id,
                    display_phone_number=settings.display_phone_number,
                    business_account_id=settings.business_account_id,
                )
                delivered = False
                try:
                    response = await post_signed(self._state, payload)
                    delivered = response.is_success
                    if not delivered:
                        logger.warning("status webhook (%d statuses) answered %s", len(batch), response.status_code)
                except WebhookUnreachable as exc:
                    logger.warning("status webhook (%d statuses) not delivered: %r", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_result(delivered)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:  # only when cancelled can statuses be left waiting here
                for _, future in self._waiting:
                    if not future.done():
                        future.set_result(False)
                self._waiting.clear()


def _spawn(state: SimulatorState, coro: Any) -> None:
    task: asyncio.Task[None] = asyncio.ensure_future(coro)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


# ---------------------------------------------------------------------------------- request models


class FailureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    mode: FailureMode
    count: int = Field(default=1, ge=1, le=1_000_000)
    timeout_seconds: float = Field(default=15.0, ge=0, le=600, alias="timeoutSeconds")


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str | None = None


class _Image(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    link: str | None = None
    caption: str | None = None

    @model_validator(mode="after")
    def _media(self) -> _Image:
        if not (self.id or self.link):
            raise ValueError("an image needs its media `id` or a `link`, as WhatsApp's always has one")
        return self


class _Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None
    address: str | None = None
    url: str | None = None


class InboundRequest(BaseModel):
    """What a simulated customer sends: exactly one of text, buttonReply, listReply, image, location,
    requestWelcome (true: the customer opens the chat for the first time)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    name: str | None = None
    user_id: str | None = Field(default=None, alias="userId")
    username: str | None = None
    text: str | None = Field(default=None, min_length=1)
    button_reply: _Reply | None = Field(default=None, alias="buttonReply")
    list_reply: _Reply | None = Field(default=None, alias="listReply")
    image: _Image | None = None
    location: _Location | None = None
    request_welcome: Literal[True] | None = Field(default=None, alias="requestWelcome")
    context_message_id: str | None = Field(default=None, alias="contextMessageId")

    @model_validator(mode="after")
    def _check(self) -> InboundRequest:
        if self.from_ is None and self.user_id is None:
            raise ValueError("'from' (phone number) or 'userId' (BSUID) is required")
        if self.from_ is not None and not payloads.phone_digits(self.from_):
            raise ValueError("'from' must be a phone number")
        kinds = [self.text, self.button_reply, self.list_reply, self.image, self.location, self.request_welcome]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError("give exactly one of text, buttonReply, listReply, image, location, requestWelcome")
        return self

    def message_part(self) -> dict[str, Any]:
        if self.text is not None:
            return payloads.text_message(self.text)
        if self.button_reply is not None:
            return payloads.button_reply_message(self.button_reply.id, self.button_reply.title)
        if self.list_reply is not None:
            r = self.list_reply
            return payloads.list_reply_message(r.id, r.title, r.description)
        if self.request_welcome:
            return payloads.request_welcome_message()
        if self.image is not None:
            return payloads.image_message(media_id=self.image.id, link=self.image.link, caption=self.image.caption)
        assert self.location is not None
        loc = self.location
        return payloads.location_message(loc.latitude, loc.longitude, name=loc.name, address=loc.address, url=loc.url)


# ------------------------------------------------------------------------------------------- the app


def _check_token(state: SimulatorState, header: str) -> JSONResponse | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), state.settings.access_token.encode()
    ):
        return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    return None


async def _injected_failure(failure: _Failure) -> Response:
    if failure.mode == "timeout":
        await asyncio.sleep(failure.timeout_seconds)
        return PlainTextResponse("Gateway Timeout", status_code=504)
    http_status, code, subcode, message, details = _INJECTED[failure.mode]
    response = graph_error(http_status, code, message, details, subcode=subcode)
    if failure.mode == "http_429":
        response.headers["Retry-After"] = "1"
    return response


def _rejection(rejection: GraphRejection) -> JSONResponse:
    return graph_error(400, rejection.code, rejection.message, rejection.details)


async def graph_send(
    state: SimulatorState, version: str, phone_number_id: str, authorization: str, raw_body: bytes
) -> Response:
    """`POST /{version}/{phone-number-id}/messages`: a send or a mark-as-read, answered as the Graph API does."""
    denied = _check_token(state, authorization)
    if denied is not None:
        return denied
    if phone_number_id != state.settings.phone_number_id:
        return graph_error(
            400,
            100,
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            subcode=33,
            error_type="GraphMethodException",
        )
    try:
        body = fastjson.loads(raw_body)
    except ValueError:
        return graph_error(400, 100, "(#100) Invalid parameter", "The request body is not valid JSON.")
    if isinstance(body, dict) and body.get("status") == "read":
        return _mark_read(state, body)
    failure = state.take_failure()
    if failure is not None:
        return await _injected_failure(failure)
    rejection = check_send_body(body)
    if rejection is not None:
        return _rejection(rejection)
    return _accept(state, version, body)


class SimulatorApp(FastAPI):
    """FastAPI, with the Graph API's send endpoint answered ahead of its middleware and routing: it is the
    simulator's busiest route by far, and a load test shares the machine with it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = _send_target(scope)
        if target is None:
            await super().__call__(scope, receive, send)
            return
        raw = await read_body(receive)
        if raw is None:
            return
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
        state: SimulatorState = self.state.simulator
        response = await graph_send(state, *target, authorization, raw)
        await response(scope, receive, send)


def _send_target(scope: Scope) -> tuple[str, str] | None:
    """(version, phone-number-id) of a `POST /{version}/{phone-number-id}/messages`, else None. The simulator's
    own controls live under /_simulator/ (and the bench's under /_bench/)."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    parts = scope["path"].split("/")
    if len(parts) != 4 or parts[3] != "messages" or not parts[1] or not parts[2] or parts[1].startswith("_"):
        return None
    return parts[1], parts[2]


def create_simulator_app(settings: SimulatorSettings | None = None) -> FastAPI:
    """A FastAPI app speaking the Cloud API's send endpoint, plus ``/_simulator/...`` controls."""
    settings = settings or SimulatorSettings()
    state = SimulatorState(
        settings=settings,
        messages=SendHistory(settings.history_limit),
        reads=deque(maxlen=settings.history_limit),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as client:
            state.http = client
            try:
                yield
            finally:
                for task in list(state.tasks):
                    task.cancel()
                if state.tasks:
                    await asyncio.gather(*state.tasks, return_exceptions=True)
                state.http = None

    app = SimulatorApp(title="WhatsApp Cloud API simulator", lifespan=lifespan)
    app.state.simulator = state

    @app.post("/{version}/{phone_number_id}/messages", response_model=None)
    async def send_message(version: str, phone_number_id: str, request: Request) -> Response:
        """Documents the send endpoint; `SimulatorApp` answers it ahead of the framework."""
        return await graph_send(
            _state(request), version, phone_number_id, request.headers.get("authorization", ""), await request.body()
        )

    @app.post("/_simulator/failures")
    async def set_failures(spec: FailureRequest, request: Request) -> dict[str, Any]:
        st = _state(request)
        st.failure = _Failure(spec.mode, spec.count, spec.timeout_seconds)
        return {"mode": spec.mode, "remaining": spec.count, "timeoutSeconds": spec.timeout_seconds}

    @app.delete("/_simulator/failures")
    async def clear_failures(request: Request) -> dict[str, Any]:
        _state(request).failure = None
        return {"cleared": True}

    @app.get("/_simulator/failures")
    async def get_failures(request: Request) -> dict[str, Any]:
        failure = _state(request).failure
        if failure is None:
            return {"mode": None, "remaining": 0}
        return {
            "mode": failure.mode,
            "remaining": failure.remaining,
            "timeoutSeconds": failure.timeout_seconds,
        }

    @app.get("/_simulator/messages")
    async def list_messages(
        request: Request,
        to: Annotated[str | None, Query()] = None,
        since: Annotated[datetime | None, Query()] = None,
    ) -> Response:
        recipients = None
        if to:
            digits = payloads.phone_digits(to)
            recipients = recipient_keys(None, to) + (recipient_keys(digits, None) if digits else [])
        since_epoch = None
        if since is not None:
            since_epoch = (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
        return _json({"items": _state(request).messages.find(recipients, since_epoch)})

    @app.get("/_simulator/reads")
    async def list_reads(request: Request) -> dict[str, Any]:
        return {"items": list(_state(request).reads)}

    @app.delete("/_simulator/messages")
    async def clear_messages(request: Request) -> dict[str, Any]:
        st = _state(request)
        st.messages.clear()
        st.reads.clear()
        return {"cleared": True}

    @app.get("/_simulator/health")
    async def health(request: Request) -> dict[str, Any]:
        st = _state(request)
        return {"status": "ok", "phoneNumberId": st.settings.phone_number_id, "messages": len(st.messages)}

    @app.post("/_simulator/inbound")
    async def inbound(spec: InboundRequest, request: Request) -> JSONResponse:
        st = _state(request)
        if spec.from_ is not None and customer_phone(payloads.phone_digits(spec.from_)) == customer_phone(
            st.settings.display_phone_number
        ):
            # WhatsApp has no such message, and the server would not store it (the sender is the business).
            return JSONResponse(
                {
                    "error": f"'from' is the business number itself (+{st.settings.display_phone_number}, the "
                    "simulated business's display number): a customer writes from another number"
                },
                status_code=422,
            )
        wamid = payloads.new_wamid()
        part = spec.message_part()
        uploaded = st.media.get(spec.image.id) if spec.image is not None and spec.image.id else None
        if uploaded is not None:  # as WhatsApp describes a photo it has: its type, hash and download URL
            part["image"].update(
                mime_type=uploaded.mime_type, sha256=uploaded.sha256, url=_media_url(request, uploaded.media_id)
            )
        payload = payloads.build_inbound_webhook(
            part,
            from_phone=spec.from_,
            user_id=spec.user_id or (payloads.fake_bsuid(spec.from_) if spec.from_ else None),
            name=spec.name,
            username=spec.username,
            wamid=wamid,
            context_message_id=spec.context_message_id or _tapped_prompt(st, spec),
            phone_number_id=st.settings.phone_number_id,
            display_phone_number=st.settings.display_phone_number,
            business_account_id=st.settings.business_account_id,
        )
        try:
            try:
                response = await post_signed(st, payload, retries=0)
            except WebhookUnreachable:
                # Once more: a keep-alive connection the server closed just as we sent is no answer. The same
                # message id, so a server that did store the first try keeps it once (as for Meta's redeliveries).
                response = await post_signed(st, payload, retries=0)
        except WebhookUnreachable as exc:
            return JSONResponse(
                {"status": None, "messageId": wamid, "body": None, "error": f"webhook unreachable: {exc}"},
                status_code=502,
            )
        return JSONResponse(
            {
                "status": response.status_code,
                "messageId": wamid,
                "body": response.text,
                "to": "+" + st.settings.display_phone_number,
            }
        )

    @app.post("/_simulator/media")
    async def upload_media(request: Request) -> JSONResponse:
        """Keep a file a simulated customer will send (the body, its type in Content-Type): answers its media
        id, for `/_simulator/inbound`'s `image.id`."""
        try:
            raw = await read_body(request.receive, MAX_UPLOAD_BYTES)
        except BodyTooLarge:
            return JSONResponse({"error": f"a file of at most {MAX_UPLOAD_BYTES} bytes"}, status_code=413)
        if not raw:
            return JSONResponse({"error": "the body is the file, and it is empty"}, status_code=422)
        mime = request.headers.get("content-type", "").split(";")[0].strip().lower() or "application/octet-stream"
        stored = _state(request).media.put(raw, mime)
        return JSONResponse(
            {"id": stored.media_id, "mimeType": mime, "sha256": stored.sha256, "fileSize": len(raw)}, status_code=201
        )

    @app.get("/_simulator/media/{media_id}", response_model=None)
    async def download_media(media_id: str, request: Request) -> Response:
        """A media's bytes, as WhatsApp's download URL gives them: only with the access token."""
        st = _state(request)
        denied = _check_token(st, request.headers.get("authorization", ""))
        if denied is not None:
            return denied
        stored = st.media.get(media_id)
        if stored is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(stored.data, media_type=stored.mime_type)

    # Registered last: its pattern would otherwise catch /_simulator/... routes.
    @app.get("/{version}/{phone_number_id}", response_model=None)
    async def phone_number(version: str, phone_number_id: str, request: Request) -> Response:
        """The phone number object (what a "test connection" reads): id, display number, verified name. Or, for
        a media id, the media's download URL and details, as `GET /{version}/{media-id}` answers."""
        st = _state(request)
        denied = _check_token(st, request.headers.get("authorization", ""))
        if denied is not None:
            return denied
        stored = st.media.get(phone_number_id)
        if stored is not None:
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": _media_url(request, stored.media_id),
                    "mime_type": stored.mime_type,
                    "sha256": stored.sha256,
                    "file_size": len(stored.data),
                    "id": stored.media_id,
                }
            )
        if phone_number_id != st.settings.phone_number_id:
            return graph_error(
                400,
                100,
                f"Unsupported get request. Object with ID '{phone_number_id}' does not exist.",
                subcode=33,
                error_type="GraphMethodException",
            )
        return JSONResponse(
            {
                "id": phone_number_id,
                "display_phone_number": st.settings.display_phone_number,
                "verified_name": "Demo Pizza Place",
                "quality_rating": "GREEN",
                "code_verification_status": "VERIFIED",
            }
        )

    return app


def _media_url(request: Request, media_id: str) -> str:
    return str(request.base_url).rstrip("/") + f"/_simulator/media/{media_id}"


def _tapped_prompt(state: SimulatorState, spec: InboundRequest) -> str | None:
    """The message a tap answers, as WhatsApp names it in `context.id`: the newest interactive message sent to
    this customer that offers the tapped button or list row (None when none does)."""
    reply, kind = (spec.button_reply, "button") if spec.button_reply is not None else (spec.list_reply, "list")
    if reply is None:
        return None
    digits = payloads.phone_digits(spec.from_) if spec.from_ else None
    # The BSUID the webhook will carry (given, or derived from the number): sends may have named either.
    user_id = spec.user_id or (payloads.fake_bsuid(digits) if digits else None)
    for record in reversed(state.messages.find(recipient_keys(digits, user_id))):
        payload = record["payload"]
        interactive = payload.get("interactive") if record["type"] == "interactive" else None
        if isinstance(interactive, dict) and interactive.get("type") == kind and reply.id in _offered(interactive):
            return str(record["wamid"])
    return None


def _offered(interactive: dict[str, Any]) -> set[str]:
    """The button and row ids of an interactive message as the Graph API received it."""
    action = interactive.get("action")
    if not isinstance(action, dict):
        return set()
    items = [b.get("reply") for b in action.get("buttons") or [] if isinstance(b, dict)]
    items += [row for s in action.get("sections") or [] if isinstance(s, dict) for row in s.get("rows") or []]
    return {item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)}


def _mark_read(state: SimulatorState, body: dict[str, Any]) -> Response:
    if body.get("messaging_product") != "whatsapp":
        return graph_error(400, 100, "(#100) Invalid parameter", "messaging_product must be 'whatsapp'.")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        return graph_error(400, 100, "(#100) Invalid parameter", "The parameter message_id is required.")
    indicator = body.get("typing_indicator")
    state.reads.append(
        {
            "messageId": message_id,
            "typingIndicator": indicator if isinstance(indicator, dict) else None,
            "receivedAt": datetime.now(tz=UTC).isoformat(),
        }
    )
    return _json({"success": True})


def _json(content: dict[str, Any]) -> Response:
    """A 200 JSON answer, encoded by orjson: the Graph API's answers are the simulator's busiest output."""
    return Response(fastjson.dumps(content), media_type="application/json")


def _accept(state: SimulatorState, version: str, body: dict[str, Any]) -> Response:
    wamid = payloads.new_wamid()
    to = body.get("to")
    to_digits = payloads.phone_digits(to) if isinstance(to, str) and payloads.phone_digits(to) else None
    recipient = body.get("recipient") if isinstance(body.get("recipient"), str) else None
    recipient_user_id = recipient or (payloads.fake_bsuid(to_digits) if to_digits else None)
    received = datetime.now(tz=UTC)
    record: dict[str, Any] = {
        "wamid": wamid,
        "to": to_digits,
        "recipient": recipient,
        "recipientUserId": recipient_user_id,
        "type": body.get("type", "text"),
        "payload": body,
        "version": version,
        "receivedAt": received.isoformat(),
        "timestamp": int(received.timestamp()),
    }
    # Under the customer's phone number and BSUID both: WhatsApp knows them as one person, whichever a send named.
    state.messages.append(record, received.timestamp(), recipient_keys(to_digits, recipient_user_id))
    contact: dict[str, Any] = {"input": to if to_digits else recipient}
    if to_digits:
        contact["wa_id"] = to_digits
    if recipient_user_id:
        contact["user_id"] = recipient_user_id
    if state.settings.send_statuses:
        _spawn(state, _deliver_statuses(state, record))
    return _json({"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]})
