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


class ChatbotOut(CamelModel):
    id: uuid.UUID
    name: str
    description: str | None
    nodes: list[Any]
    edges: list[Any]
    is_active: bool
    status: ChatbotStatus
    metadata: dict[str, Any] | None = Field(validation_alias="metadata_")
    created_at: dt.datetime
    updated_at: dt.datetime


class ChatbotSummary(CamelModel):
    id: uuid.UUID
    name: str
    description: str | None
    is_active: bool
    status: ChatbotStatus
    node_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
