from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import Field

from whatsapp_builder.chatbots.models import ChatbotStatus
from whatsapp_builder.core.schemas import CamelInput, CamelModel

GraphItems = Annotated[list[dict[str, Any]], Field(max_length=2000)]


class ChatbotCreate(CamelInput):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    description: Annotated[str | None, Field(max_length=10_000)] = None
    nodes: GraphItems = Field(default_factory=list)
    edges: GraphItems = Field(default_factory=list)
    is_active: bool = True
    status: ChatbotStatus = ChatbotStatus.DRAFT
    metadata: dict[str, Any] | None = None


class ChatbotUpdate(CamelInput):
    name: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    description: Annotated[str | None, Field(max_length=10_000)] = None
    nodes: GraphItems | None = None
    edges: GraphItems | None = None
    is_active: bool | None = None
    status: ChatbotStatus | None = None
    metadata: dict[str, Any] | None = None


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
    published_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ChatbotSaved(ChatbotOut):
    """A saved chatbot with the validation report of its draft (problems block publishing, not saving)."""

    validation: ValidationOut


class ChatbotExport(CamelInput):
    """The import/export file: the same JSON for the API, the CLI and examples/demo-chatbot.json."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    description: Annotated[str | None, Field(max_length=10_000)] = None
    nodes: GraphItems = Field(default_factory=list)
    edges: GraphItems = Field(default_factory=list)
    metadata: dict[str, Any] | None = None


class TestRunRequest(CamelInput):
    inputs: Annotated[list[str | dict[str, Any]], Field(max_length=200)] = Field(
        description='Customer inputs in order: text, or {"buttonId": ...}, {"listRowId": ...}. The first one is '
        "the trigger the start node consumes."
    )
    contact_name: Annotated[str | None, Field(max_length=100)] = "Test customer"
    contact_phone: Annotated[str | None, Field(max_length=20)] = "+15550000000"
    published: bool = Field(default=False, description="Run the published graph instead of the draft")


class TestRunOut(CamelModel):
    steps: list[dict[str, Any]]


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
