from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from whatsapp_builder.chatbots.models import ChatbotStatus
from whatsapp_builder.conversations.models import MessageType
from whatsapp_builder.core.schemas import CamelInput, CamelModel, storable_text, utf8_text
from whatsapp_builder.flows.bot_settings import metadata_problems
from whatsapp_builder.flows.nesting import MAX_JSON_DEPTH, json_depth_exceeds, storable_json

GraphItems = Annotated[list[dict[str, Any]], Field(max_length=2000), AfterValidator(storable_json)]
Metadata = Annotated[dict[str, Any] | None, AfterValidator(storable_json)]


def _usable_metadata(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    problems = metadata_problems(metadata)
    if problems:
        raise ValueError("; ".join(problems))
    return metadata


ChatbotName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), AfterValidator(storable_text)
]
"""A name shown in lists: trimmed, and not only spaces."""


class ChatbotCreate(CamelInput):
    name: ChatbotName
    description: Annotated[str | None, Field(max_length=10_000), AfterValidator(storable_text)] = None
    nodes: GraphItems = Field(default_factory=list)
    edges: GraphItems = Field(default_factory=list)
    is_active: StrictBool = Field(
        default=True,
        description="The seed's default; conversations run a chatbot that is active *and* published "
        "(`status: active` here, or POST …/publish later).",
    )
    status: ChatbotStatus = ChatbotStatus.DRAFT
    metadata: Metadata = None

    _metadata = field_validator("metadata")(_usable_metadata)


class ChatbotUpdate(CamelInput):
    not_nullable = frozenset({"name", "nodes", "edges", "is_active", "status"})

    name: ChatbotName | None = None
    description: Annotated[str | None, Field(max_length=10_000), AfterValidator(storable_text)] = None
    nodes: GraphItems | None = None
    edges: GraphItems | None = None
    is_active: StrictBool | None = None
    status: ChatbotStatus | None = None
    metadata: Metadata = None

    _metadata = field_validator("metadata")(_usable_metadata)


class ProblemOut(CamelModel):
    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None


class ValidationOut(CamelModel):
    errors: list[ProblemOut]
    warnings: list[ProblemOut]


class ChatbotOut(CamelModel):
    id: uuid.UUID
    name: str
    description: str | None
    nodes: list[Any]
    edges: list[Any]
    is_active: bool
    status: ChatbotStatus
    metadata: dict[str, Any] | None = Field(validation_alias="metadata_")
    published_nodes: list[Any] | None = None
    published_edges: list[Any] | None = None
    published_metadata: dict[str, Any] | None = Field(
        default=None, description="The settings conversations run with: `metadata` as it was when last published"
    )
    published_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ChatbotSaved(ChatbotOut):
    """A saved chatbot with the validation report of its draft (problems block publishing, not saving)."""

    validation: ValidationOut


class ChatbotExport(CamelInput):
    """The import/export file: the same JSON for the API, the CLI and examples/demo-chatbot.json."""

    name: ChatbotName
    description: Annotated[str | None, Field(max_length=10_000), AfterValidator(storable_text)] = None
    nodes: GraphItems = Field(default_factory=list)
    edges: GraphItems = Field(default_factory=list)
    metadata: Metadata = None

    _metadata = field_validator("metadata")(_usable_metadata)


class FlowValidateRequest(CamelInput):
    """A graph to check without saving it: `nodes` and `edges`; an export file's other fields are allowed."""

    name: Annotated[str | None, Field(max_length=255)] = None
    description: Annotated[str | None, Field(max_length=10_000), AfterValidator(storable_text)] = None
    nodes: GraphItems = Field(default_factory=list)
    edges: GraphItems = Field(default_factory=list)
    metadata: Metadata = None

    # As an import or a create refuses them: a file that validates here must not fail there.
    _metadata = field_validator("metadata")(_usable_metadata)

    @model_validator(mode="after")
    def _text(self) -> Self:
        if not (utf8_text(self.nodes) and utf8_text(self.edges)):
            raise ValueError("the graph holds half a surrogate pair, which is no text")
        return self


# A test-run input object: what says its kind, and what may come with it (flows/types.py FlowInput.from_test_input).
_INPUT_KINDS = frozenset({"buttonId", "listRowId", "text", "body", "timer", "kind", "type"})
_INPUT_KEYS = _INPUT_KINDS | {"title", "content"}
# The type each key's value must have: an id or a text that is not a string would be read as null.
_INPUT_TYPES: dict[str, tuple[type, str]] = {
    "buttonId": (str, "a string"),
    "listRowId": (str, "a string"),
    "text": (str, "a string"),
    "body": (str, "a string"),
    "title": (str, "a string"),
    "kind": (str, "a string"),
    "type": (str, "a string"),
    "timer": (bool, "true or false"),
    "content": (dict, "an object"),
}


# The keys of a message's `content` a test input is read by (flows/testrun.py): texts and ids.
_CONTENT_TEXTS = frozenset({"body", "title", "buttonId", "listRowId", "caption", "replyTo", "kind"})
_MESSAGE_KINDS = frozenset(kind.value for kind in MessageType)
_INPUT_KIND_NAMES = frozenset({"text", "button", "list", "timer"})


def _text_or_object(value: Any) -> Any:
    # Checked before the union: its errors would name pydantic's members (`inputs.0.dict[str,any]`), not the input.
    if isinstance(value, str | dict):
        return value
    raise ValueError('must be text or an object, e.g. {"buttonId": "order"}')


TestRunInput = Annotated[str | dict[str, Any], BeforeValidator(_text_or_object)]


class TestRunRequest(CamelInput):
    inputs: Annotated[list[TestRunInput], Field(max_length=200)] = Field(
        description='Customer inputs in order: text, or {"buttonId": ...}, {"listRowId": ...}. The first one is '
        "the trigger the start node consumes."
    )
    contact_name: Annotated[str | None, Field(max_length=100)] = "Test customer"
    contact_phone: Annotated[str | None, Field(max_length=20)] = "+15550000000"
    published: StrictBool = Field(default=False, description="Run the published graph instead of the draft")
    http_replay: Annotated[list[dict[str, Any]], Field(max_length=200)] = Field(
        default_factory=list,
        description="`httpCalls` of an earlier run of the same chat: an identical request is answered from it, not"
        " sent again (a chat resends its inputs every turn; an API the flow calls is called once)",
    )

    @field_validator("inputs")
    @classmethod
    def _known_inputs(cls, inputs: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        for index, item in enumerate(inputs):
            if isinstance(item, dict) and (set(item) - _INPUT_KEYS or not set(item) & _INPUT_KINDS):
                raise ValueError(
                    f"input {index} is neither text nor an object with one of {', '.join(sorted(_INPUT_KINDS))}"
                    f" (and optionally {', '.join(sorted(_INPUT_KEYS - _INPUT_KINDS))})"
                )
            if isinstance(item, dict):
                for key, value in item.items():
                    expected, described = _INPUT_TYPES[key]
                    if not isinstance(value, expected):
                        raise ValueError(f"input {index}: `{key}` must be {described}")
                for key, value in (item.get("content") or {}).items():
                    # A stored message's content ({"body"}, {"buttonId", "title"}, {"caption"}...): read as the
                    # same keys at the top level are, so they are checked alike.
                    if key in _CONTENT_TEXTS and value is not None and not isinstance(value, str):
                        raise ValueError(f"input {index}: `content.{key}` must be a string")
                chosen = [key for key in ("buttonId", "listRowId", "timer") if key in item]
                if len(chosen) > 1:
                    raise ValueError(f"input {index}: give one of {', '.join(chosen)}, not several")
                if "type" in item and item["type"] not in _MESSAGE_KINDS:
                    raise ValueError(
                        f"input {index}: `type` must be a message type ({', '.join(sorted(_MESSAGE_KINDS))})"
                    )
                if "kind" in item and item["kind"] not in _INPUT_KIND_NAMES:
                    raise ValueError(f"input {index}: `kind` must be one of {', '.join(sorted(_INPUT_KIND_NAMES))}")
                if json_depth_exceeds(item):
                    raise ValueError(f"input {index} is nested more than {MAX_JSON_DEPTH} levels deep")
            if not utf8_text(item):
                raise ValueError(f"input {index} holds half a surrogate pair, which is no text")
        return inputs

    @field_validator("http_replay")
    @classmethod
    def _replayable(cls, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, call in enumerate(calls):
            if json_depth_exceeds(call):
                raise ValueError(f"httpReplay {index} is nested more than {MAX_JSON_DEPTH} levels deep")
            if not utf8_text(call):
                raise ValueError(f"httpReplay {index} holds half a surrogate pair, which is no text")
        return calls

    @field_validator("contact_name", "contact_phone")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and not utf8_text(value):
            raise ValueError("holds half a surrogate pair, which is no text")
        return value


class TestRunOut(CamelModel):
    steps: list[dict[str, Any]]
    http_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The HTTP requests of HTTP request nodes, in order, with their results (`replayed`: answered"
        " from httpReplay); give them back as httpReplay with the chat's next run",
    )


class ChatbotSummary(CamelModel):
    id: uuid.UUID
    name: str
    description: str | None
    is_active: bool
    status: ChatbotStatus
    node_count: int
    published_at: dt.datetime | None = None
    running_conversations: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime
