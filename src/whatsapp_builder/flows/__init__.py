"""The flow engine: chatbot graphs (React Flow JSON), their validation, and a pure turn-by-turn runner.

See ``docs/flows.md`` for the format and the run semantics.
"""

from whatsapp_builder.flows.engine import is_expired, run_turn
from whatsapp_builder.flows.graph import (
    FlowEdge,
    FlowGraph,
    FlowGraphError,
    FlowNode,
    compile_graph,
    has_trigger_keywords,
    start_matches,
)
from whatsapp_builder.flows.http import HttpPerformer, HttpRequestSpec, HttpResult, SafeHttpPerformer
from whatsapp_builder.flows.schemas import NODE_SCHEMAS
from whatsapp_builder.flows.stats import ContextSnapshot, FlowStats, NodeStats, aggregate
from whatsapp_builder.flows.testrun import TranscriptStep, test_run
from whatsapp_builder.flows.types import (
    ContactInfo,
    ContextState,
    EngineSettings,
    FlowInput,
    OutgoingMessage,
    TurnResult,
)
from whatsapp_builder.flows.validation import Problem, ValidationReport, validate_graph

__all__ = [
    "NODE_SCHEMAS",
    "ContactInfo",
    "ContextSnapshot",
    "ContextState",
    "EngineSettings",
    "FlowEdge",
    "FlowGraph",
    "FlowGraphError",
    "FlowInput",
    "FlowNode",
    "FlowStats",
    "HttpPerformer",
    "HttpRequestSpec",
    "HttpResult",
    "NodeStats",
    "OutgoingMessage",
    "Problem",
    "SafeHttpPerformer",
    "TranscriptStep",
    "TurnResult",
    "ValidationReport",
    "aggregate",
    "compile_graph",
    "has_trigger_keywords",
    "is_expired",
    "run_turn",
    "start_matches",
    "test_run",
    "validate_graph",
]
