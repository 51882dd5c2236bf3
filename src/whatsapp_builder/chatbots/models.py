from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from whatsapp_builder.db.base import Base, created_at_column, updated_at_column, uuid_pk
from whatsapp_builder.db.types import pg_enum


class ChatbotStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    DRAFT = "draft"


class Chatbot(Base):
    """A flow designed as a React Flow graph: `nodes` and `edges` are stored as React Flow produces them."""

    __tablename__ = "chatbots"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column("name", String(255), nullable=False)
    description: Mapped[str | None] = mapped_column("description", Text, nullable=True)
    nodes: Mapped[list[Any]] = mapped_column("nodes", JSONB, nullable=False, server_default=text("'[]'"))
    edges: Mapped[list[Any]] = mapped_column("edges", JSONB, nullable=False, server_default=text("'[]'"))
    is_active: Mapped[bool] = mapped_column("isActive", Boolean, nullable=False, server_default=text("true"))
    status: Mapped[ChatbotStatus] = mapped_column(
        "status", pg_enum(ChatbotStatus, "chatbot_status"), nullable=False, server_default=text("'active'")
    )
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB, nullable=True)
    # Extensions (migration 0010): the published graph that conversations run on.
    published_nodes: Mapped[list[Any] | None] = mapped_column("publishedNodes", JSONB, nullable=True)
    published_edges: Mapped[list[Any] | None] = mapped_column("publishedEdges", JSONB, nullable=True)
    # Extension (migration 0016): the run-time settings taken with the published graph.
    published_metadata: Mapped[dict[str, Any] | None] = mapped_column("publishedMetadata", JSONB, nullable=True)
    published_at: Mapped[dt.datetime | None] = mapped_column("publishedAt", DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    __table_args__ = (
        Index(
            "idx_chatbots_active_created",
            "isActive",
            "createdAt",
            postgresql_where=text('"isActive" = true'),
        ),
        Index("idx_chatbots_nodes_gin", "nodes", postgresql_using="gin"),
    )
