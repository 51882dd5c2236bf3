"""Published chatbot graphs, compiled once per publication and kept per process."""

from __future__ import annotations

import datetime as dt
import uuid

from whatsapp_builder.flows.graph import FlowGraph, FlowGraphError, compile_graph
from whatsapp_builder.logging import get_logger

log = get_logger(__name__)


class BotCatalog:
    """Published chatbots, compiled once per publication and kept per process."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[uuid.UUID, str], FlowGraph] = {}

    def compiled(self, bot_id: uuid.UUID, published_at: dt.datetime, nodes: object, edges: object) -> FlowGraph | None:
        key = (bot_id, published_at.isoformat())
        graph = self._compiled.get(key)
        if graph is None:
            try:
                graph = compile_graph(nodes, edges)
            except FlowGraphError:
                log.error("published chatbot does not compile", chatbot_id=str(bot_id))
                return None
            if len(self._compiled) > 256:
                self._compiled.clear()
            self._compiled[key] = graph
        return graph
