"""Value types shared by the flow engine: inputs, outgoing messages, context state and turn results."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

InputKind = Literal["text", "button", "list", "media", "other", "timer", "start", "welcome"]
# Which of the bot's interactive messages a tap answers, as WhatsApp tells it (`context.id`): the newest one the
# bot sent in the conversation, or an earlier one (the customer scrolled up).
QuotedPrompt = Literal["latest", "earlier"]

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
ENDED_REASONS = (
    "completed",
    "handoff",
    "error",
    "node_missing",
    "step_limit",
    "timer_limit",
    "timeout",
    "restart",
)
HISTORY_LIMIT = 1000


def _str_or_none(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


@dataclass(frozen=True)
class QuotedMessage:
    """One of the bot's buttons or list messages, as sent, that a customer's text replies to."""

    is_list: bool
    body: str
    options: tuple[tuple[str, str], ...]  # (id, title)
    # Whether the bot has sent nothing since (it is the prompt of the step waiting now, if any).
    newest: bool


@dataclass(frozen=True)
class FlowInput:
    """One input to the engine: a customer message, a timer firing, or the start of a test run."""

    kind: InputKind
    text: str | None = None
    button_id: str | None = None
    list_row_id: str | None = None
    # The WhatsApp id of the message this one replies to, and (found by the runner) whether that message is the
    # bot's newest prompt or an earlier one: docs/flows.md, "Taps on earlier messages".
    reply_to: str | None = None
    quoted_prompt: QuotedPrompt | None = None
    # Found by the runner: the customer tapped this same option on the same message moments before (a double
    # tap); what it does when no context is active (the engine knows the taps its context took).
    tapped_before: bool = False
    # Found by the runner: the chatbot whose run sent the quoted prompt (when no context runs, it goes on from it).
    quoted_chatbot_id: uuid.UUID | None = None
    # Found by the runner, for a text that quotes one of the bot's buttons or lists (swipe to reply).
    quoted: QuotedMessage | None = None
    # Found by the runner: that chatbot is not the one running here. Its option ids mean nothing to this one
    # (ids repeat across chatbots), so the tap is no choice of this context's steps.
    foreign_prompt: bool = False
    # When the customer wrote it (WhatsApp's timestamp): one written before a message already answered came late.
    written_at: datetime | None = None
    # WhatsApp could not pass on what the customer sent (an `unsupported` message: a poll, a view-once photo...):
    # not an answer they gave, so a question asks again without counting it as a wrong one.
    unreadable: bool = False
    # Found by the runner: an earlier message of the same batch made the bot send something, which was not even
    # sent when this one was written. A wrong answer to the prompt waiting now is then no answer the customer gave
    # to it (a burst: "hi", "hello", "anyone?"): not asked again, not counted.
    prompt_unseen: bool = False
    # Found by the runner: the conversation's context had just timed out (the session timeout), and this is the
    # `sessionTimeoutMessage` of its chatbot: sent before the start's messages (see engine._comes_back_after_timeout).
    timeout_notice: str | None = None

    @property
    def tapped_id(self) -> str | None:
        """The id of the button or list row the customer tapped, if this is a tap."""
        return self.button_id if self.kind == "button" else self.list_row_id if self.kind == "list" else None

    @classmethod
    def text_input(cls, text: str) -> FlowInput:
        return cls(kind="text", text=text)

    @classmethod
    def timer(cls) -> FlowInput:
        return cls(kind="timer")

    @classmethod
    def from_message(cls, message_type: str, content: object) -> FlowInput:
        """Map a stored inbound message (``messages.type`` and ``content``) to an input. Never raises."""
        body: dict[str, Any] = cast(dict[str, Any], content) if isinstance(content, dict) else {}
        kind = message_type if isinstance(message_type, str) else ""
        if kind == "text":
            return cls(kind="text", text=_str_or_none(body.get("body")), reply_to=_str_or_none(body.get("replyTo")))
        if kind in ("interactive", "button"):
            reply_to = _str_or_none(body.get("replyTo"))
            row_id = _str_or_none(body.get("listRowId"))
            if row_id is not None:
                return cls(kind="list", text=_str_or_none(body.get("title")), list_row_id=row_id, reply_to=reply_to)
            button_id = _str_or_none(body.get("buttonId"))
            if button_id is not None or kind == "button":
                title = _str_or_none(body.get("title"))
                return cls(kind="button", text=title, button_id=button_id, reply_to=reply_to)
            return cls(kind="other", text=_str_or_none(body.get("title")))
        if kind in MEDIA_TYPES:
            return cls(kind="media", text=_str_or_none(body.get("caption")))
        if kind == "system" and body.get("kind") == "request_welcome":
            return cls(kind="welcome")
        return cls(kind="other", unreadable=kind == "unsupported")

    @classmethod
    def from_test_input(cls, obj: object) -> FlowInput:
        """Accept an input, a string, or a ``{"buttonId"}``, ``{"listRowId"}`` or ``{"text"}`` dict."""
        if isinstance(obj, FlowInput):
            return obj
        if isinstance(obj, str):
            return cls(kind="text", text=obj)
        if isinstance(obj, dict):
            data = cast(dict[str, Any], obj)
            title = _str_or_none(data.get("title"))
            if data.get("listRowId") is not None:
                return cls(kind="list", text=title, list_row_id=_str_or_none(data.get("listRowId")))
            if data.get("buttonId") is not None:
                return cls(kind="button", text=title, button_id=_str_or_none(data.get("buttonId")))
            if data.get("timer") or data.get("kind") == "timer":
                return cls(kind="timer")
            if "text" in data or "body" in data:
                return cls(kind="text", text=_str_or_none(data.get("text", data.get("body"))))
            if isinstance(data.get("type"), str):
                return cls.from_message(data["type"], data.get("content"))
        return cls(kind="other")


@dataclass(frozen=True)
class OutgoingMessage:
    """A message the bot sends, in the shape the outbox and the API use."""

    type: str
    content: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "content": copy.deepcopy(self.content)}


@dataclass(frozen=True)
class ContactInfo:
    name: str | None = None
    phone: str | None = None


def _default_restart_keywords() -> tuple[str, ...]:
    return ("restart", "start over")


@dataclass(frozen=True)
class EngineSettings:
    session_timeout: timedelta | None = None
    restart_keywords: Sequence[str] = field(default_factory=_default_restart_keywords)
    # A customer's message that is one of these hands the conversation to a person, whatever step waits: through
    # `handoff_node_id` (a handoff node), else the graph's first handoff node, else with no message.
    handoff_keywords: Sequence[str] = ()
    handoff_node_id: str | None = None
    # Sent before the start's messages when a customer writes again after their context timed out (the runner
    # hands it to the engine as FlowInput.timeout_notice, whichever chatbot then answers).
    timeout_message: str | None = None
    max_steps: int = 50
    max_messages_per_turn: int = 10
    # Delays in a row that a context may wake from with no customer message in between (a delay in a loop
    # would otherwise send forever: each wake is a new turn, with its own step limit).
    max_timer_turns: int = 50
    history_limit: int = HISTORY_LIMIT


@dataclass
class ContextState:
    current_node_id: str | None
    variables: dict[str, Any]
    node_history: list[str]
    is_active: bool
    engine: dict[str, Any]

    def copy(self) -> ContextState:
        return ContextState(
            current_node_id=self.current_node_id,
            variables=copy.deepcopy(self.variables),
            node_history=list(self.node_history),
            is_active=self.is_active,
            engine=copy.deepcopy(self.engine),
        )

    @property
    def waiting_for(self) -> str | None:
        """What the current node waits for: question, buttons, list, delay (None when not waiting)."""
        value = self.engine.get("waiting")
        return value if isinstance(value, str) and self.is_active else None

    @property
    def ended_reason(self) -> str | None:
        value = self.engine.get("endedReason")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "currentNodeId": self.current_node_id,
            "variables": copy.deepcopy(self.variables),
            "nodeHistory": list(self.node_history),
            "isActive": self.is_active,
            "engine": copy.deepcopy(self.engine),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextState:
        node = data.get("currentNodeId")
        variables = data.get("variables")
        history = data.get("nodeHistory")
        engine = data.get("engine")
        return cls(
            current_node_id=node if isinstance(node, str) else None,
            variables=dict(variables) if isinstance(variables, dict) else {},
            node_history=[h for h in history if isinstance(h, str)] if isinstance(history, list) else [],
            is_active=bool(data.get("isActive", False)),
            engine=dict(engine) if isinstance(engine, dict) else {},
        )


@dataclass
class TurnResult:
    state: ContextState
    outgoing: list[OutgoingMessage]
    handoff: bool
    ended_reason: str | None
    wake_at: datetime | None
    steps: int
    log: list[str]
    restarted: bool = False
    """True when a restart keyword ended the previous context and a new one was started in this call."""
