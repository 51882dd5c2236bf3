"""The flow engine: a pure function of (graph, context state, input) -> (new state, outgoing messages).

The only effect is the injected :class:`~whatsapp_builder.flows.http.HttpPerformer` used by http_request
nodes. The caller loads and stores the state and sends the messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from whatsapp_builder.flows import patterns
from whatsapp_builder.flows.graph import FlowGraph, FlowNode, start_matches
from whatsapp_builder.flows.handles import option_ids
from whatsapp_builder.flows.http import HttpPerformer, RequestDeferred
from whatsapp_builder.flows.nodes import handler_for
from whatsapp_builder.flows.nodes.base import TEXT_LIMIT, Finish, GoTo, Outcome, TurnContext, Wait
from whatsapp_builder.flows.nodes.choices import offered, sent_body
from whatsapp_builder.flows.types import (
    ContactInfo,
    ContextState,
    EngineSettings,
    FlowInput,
    InputKind,
    OutgoingMessage,
    QuotedMessage,
    TurnResult,
)
from whatsapp_builder.flows.words import (
    asks_for,
    chosen_option,
    keyword_key,
    message_keys,
    opening_option,
    written_title,
)

STATE_VERSION = 1
CUSTOMER_KINDS = frozenset({"text", "button", "list", "media", "other"})
EARLY_TIMER_TOLERANCE_SECONDS = 1.0
# How much earlier than the last message taken a customer's message may be written and still count: WhatsApp's
# timestamps are whole seconds, and it does not promise to deliver in order.
LATE_INPUT_SLACK = timedelta(seconds=10)
# How soon after a tap the context took the same option tapped again on the same message is a double tap.
DOUBLE_TAP_SECONDS = 30


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def is_expired(state: ContextState | None, now: datetime, settings: EngineSettings) -> bool:
    """Whether an active context's session timed out (time since the last activity > session_timeout).

    A context waiting on a delay node never expires: the bot, not the customer, is waiting.
    """
    if state is None or not state.is_active or settings.session_timeout is None:
        return False
    if state.engine.get("waiting") == "delay":
        return False
    last = _parse_time(state.engine.get("lastActivityAt")) or _parse_time(state.engine.get("startedAt"))
    return last is not None and _utc(now) - last > settings.session_timeout


def _comes_back_after_timeout(graph: FlowGraph, flow_input: FlowInput, settings: EngineSettings) -> bool:
    """A customer's message after their context timed out (`timeout_notice`: what that chatbot says then), that did
    not ask for a new start itself (a trigger or restart keyword of this chatbot): it was probably meant for the step
    that waited, so they are told why the chatbot starts over."""
    return (
        bool(flow_input.timeout_notice)
        and flow_input.kind in CUSTOMER_KINDS
        and not start_matches(graph, flow_input.text)
        and not is_restart(flow_input, settings)
    )


def _says_keyword(flow_input: FlowInput, keywords: Sequence[str]) -> bool:
    """A typed message that is one of `keywords` (compared as keyword_key compares them)."""
    if flow_input.kind != "text" or flow_input.text is None or not keywords:
        return False
    return not message_keys(flow_input.text).isdisjoint(keyword_key(k) for k in keywords)


def is_restart(flow_input: FlowInput, settings: EngineSettings) -> bool:
    return _says_keyword(flow_input, settings.restart_keywords)


def is_handoff(flow_input: FlowInput, settings: EngineSettings) -> bool:
    """A typed message that is a hand-off keyword, or asks for one in a sentence ("I want to talk to a person" for
    "talk to a person", "agent please" for "agent": `asks_for`)."""
    if _says_keyword(flow_input, settings.handoff_keywords):
        return True
    text = flow_input.text
    return flow_input.kind == "text" and text is not None and asks_for(text, settings.handoff_keywords)


def _handoff_node(graph: FlowGraph, settings: EngineSettings) -> str | None:
    """The step a handoff keyword goes to: `handoffNodeId` when it names a handoff node, else the graph's first."""
    chosen = graph.nodes.get(settings.handoff_node_id or "")
    if chosen is not None and chosen.type == "handoff":
        return chosen.id
    return next((node_id for node_id, node in graph.nodes.items() if node.type == "handoff"), None)


def _an_option_of(ctx: TurnContext, node: FlowNode, text: str, *, in_a_sentence: bool) -> bool:
    """Whether `text` is one of the titles the step waiting offers, written out (a button titled "Agent" taken by
    its step, not by the keyword "agent"); `in_a_sentence` (the message only asks for a keyword in a sentence),
    also whether it chooses one by the rules of typed choices ("Agent please" at that button)."""
    question = node.type == "question"
    if question:
        rules = node.data.get("validation")
        options = rules.get("options") if isinstance(rules, dict) and rules.get("type") == "options" else None
        titles = [o for o in options if isinstance(o, str)] if isinstance(options, list) else []
    else:
        titles = [title for _, title in offered(ctx, node)]
    if in_a_sentence and titles:
        return chosen_option(text, titles, by_number=question) is not None
    return written_title(text, titles) is not None


async def _hand_off(turn: _Turn, flow_input: FlowInput) -> TurnResult:
    """A handoff keyword: the conversation goes to a person, through the chatbot's handoff step (its message)."""
    turn.record_input(flow_input)
    target = _handoff_node(turn.ctx.graph, turn.ctx.settings)
    turn.ctx.log.append(
        f"handoff keyword {flow_input.text!r}: " + (f"to node {target}" if target else "no handoff node")
    )
    if target is None:
        turn.finish("handoff")
    else:
        await turn.drive(target, None)
    return turn.result()


def new_state(graph: FlowGraph, now: datetime) -> ContextState:
    stamp = _utc(now).isoformat()
    return ContextState(
        current_node_id=graph.start_node_id,
        variables={},
        node_history=[],
        is_active=True,
        engine={
            "version": STATE_VERSION,
            "startedAt": stamp,
            "lastActivityAt": stamp,
            "waiting": None,
            "retries": 0,
            "endedReason": None,
        },
    )


# The nodes that wait for a customer's answer to what they sent.
_PROMPTS = frozenset({"question", "buttons", "list"})

# In a context's engine state while it has not moved since it started (or restarted): still at the first node that
# waited, whatever it was sent meanwhile.
UNTOUCHED = "untouched"


class _Turn:
    """One call of the engine: drives nodes until the flow waits or ends."""

    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self.steps = 0
        self.wake_at: datetime | None = None
        self.ended: str | None = None
        # How many messages the turn had when it entered each node: what that node sent starts there.
        self.sent_before: dict[str, int] = {}

    @property
    def state(self) -> ContextState:
        return self.ctx.state

    def note_tap(self, flow_input: FlowInput) -> None:
        """Remember the tap this context took (WhatsApp's message and the option), to know its double."""
        if flow_input.tapped_id is not None and flow_input.reply_to is not None:
            at = flow_input.written_at or self.ctx.now
            self.state.engine["lastTap"] = {
                "replyTo": flow_input.reply_to,
                "id": flow_input.tapped_id,
                "at": _utc(at).isoformat(),
            }

    def record_input(self, flow_input: FlowInput) -> None:
        self.state.engine["lastActivityAt"] = _utc(self.ctx.now).isoformat()
        self.note_tap(flow_input)
        if flow_input.kind in CUSTOMER_KINDS and flow_input.tapped_id is None:
            # Something else written after the last tap: the same tap again is meant, not its double.
            self.state.engine.pop("lastTap", None)
        if flow_input.written_at is not None:
            last = _parse_time(self.state.engine.get("lastInputAt"))
            written = _utc(flow_input.written_at)
            self.state.engine["lastInputAt"] = max(written, last or written).isoformat()
        if flow_input.kind in CUSTOMER_KINDS:
            # A sticker or a location has no text: empty, not the text of an earlier message.
            self.state.variables["last_input"] = flow_input.text or ""

    def finish(self, reason: str) -> None:
        self.ended = reason
        self.state.is_active = False
        self.state.engine["waiting"] = None
        self.state.engine.pop("wakeAt", None)
        self.state.engine["endedReason"] = reason
        self.state.engine["endedAt"] = _utc(self.ctx.now).isoformat()
        self.ctx.log.append(f"context ended: {reason}")

    def visit(self, node_id: str) -> None:
        self.state.engine.pop(UNTOUCHED, None)
        self.state.current_node_id = node_id
        history = self.state.node_history
        history.append(node_id)
        limit = max(1, self.ctx.settings.history_limit)
        if len(history) > limit:
            del history[: len(history) - limit]

    async def enter(self, node_id: str) -> Outcome:
        node = self.ctx.graph.nodes.get(node_id)
        if node is None:
            self.ctx.log.append(f"node {node_id!r} does not exist")
            return Finish("node_missing")
        if self.steps >= self.ctx.settings.max_steps:
            self.ctx.log.append(f"step limit of {self.ctx.settings.max_steps} reached before node {node_id!r}")
            return Finish("step_limit")
        self.steps += 1
        self.visit(node_id)
        self.sent_before[node_id] = len(self.ctx.outgoing)
        self.state.engine["waiting"] = None
        self.ctx.log.append(f"enter {node.type} {node_id}")
        handler = handler_for(node.type)
        if handler is None:
            return Finish("error")
        try:
            return await handler.enter(self.ctx, node)
        except RequestDeferred:
            raise  # the whole turn is given up, to be run again where requests may be made
        except Exception as exc:  # a handler bug must end the context, not crash the runner
            self.ctx.log.append(f"error in {node.type} {node_id}: {type(exc).__name__}: {exc}")
            return Finish("error")

    async def drive(self, node_id: str, outcome: Outcome | None) -> None:
        """Continue from ``node_id``: apply ``outcome`` (of a resumed node) or enter the node."""
        current = node_id
        while True:
            if outcome is None:
                outcome = await self.enter(current)
            if isinstance(outcome, Wait):
                self.state.engine["waiting"] = outcome.kind
                self.state.current_node_id = current
                if outcome.wake_at is not None:
                    self.wake_at = outcome.wake_at
                    self.state.engine["wakeAt"] = _utc(outcome.wake_at).isoformat()
                else:
                    self.state.engine.pop("wakeAt", None)
                return
            if isinstance(outcome, Finish):
                self.finish(outcome.reason)
                return
            if isinstance(outcome, GoTo):
                current, outcome = outcome.node_id, None
                continue
            target = self.ctx.graph.next_node_id(current, outcome.handle)
            if target is None:
                handle = "default" if outcome.handle is None else repr(outcome.handle)
                self.ctx.log.append(f"no edge from {current} ({handle} handle)")
                self.finish("completed")
                return
            current, outcome = target, None

    async def go_back(self, node_id: str, written: FlowInput, taken: FlowInput) -> None:
        """At an earlier step of the run (`node_id`, waiting again), which takes `taken`: the customer's input
        `written`, or the tap it names."""
        self.record_input(written)
        self.visit(node_id)
        self.state.engine["waiting"] = self.ctx.graph.nodes[node_id].type
        await self.resume(taken)

    async def resume(self, flow_input: FlowInput) -> None:
        node_id = self.state.current_node_id or ""
        node = self.ctx.graph.nodes[node_id]
        handler = handler_for(node.type)
        waiting = self.state.engine.get("waiting")
        if handler is None or handler.resume is None or not isinstance(waiting, str):
            await self.drive(node_id, None)
            return
        self.steps += 1
        try:
            outcome = await handler.resume(self.ctx, node, flow_input)
        except RequestDeferred:
            raise
        except Exception as exc:
            self.ctx.log.append(f"error in {node.type} {node_id}: {type(exc).__name__}: {exc}")
            outcome = Finish("error")
        await self.drive(node_id, outcome)

    def result(self, restarted: bool = False) -> TurnResult:
        limit = max(0, self.ctx.settings.max_messages_per_turn)
        outgoing = self.ctx.outgoing
        if len(outgoing) > limit:
            self.ctx.log.append(f"outgoing messages cut from {len(outgoing)} to {limit}")
            outgoing = outgoing[:limit]
        return TurnResult(
            state=self.state,
            outgoing=list(outgoing),
            handoff=self.ended == "handoff",
            ended_reason=self.ended,
            wake_at=self.wake_at if self.state.is_active else None,
            steps=self.steps,
            log=self.ctx.log,
            restarted=restarted,
        )


def _context(
    graph: FlowGraph,
    state: ContextState,
    contact: ContactInfo,
    now: datetime,
    settings: EngineSettings,
    http: HttpPerformer,
) -> TurnContext:
    return TurnContext(graph=graph, state=state, contact=contact, now=now, settings=settings, http=http)


async def _start(turn: _Turn, flow_input: FlowInput, *, first_message: bool = False) -> None:
    """From the start node. `first_message`: the input is the conversation's first (not a restart keyword), which
    a first prompt marked `takesFirstMessage` may take as its answer."""
    turn.ctx.log.append(f"new context at start node {turn.ctx.graph.start_node_id}")
    turn.record_input(flow_input)
    await turn.drive(turn.ctx.graph.start_node_id, None)
    if first_message and await _answered_by_first_message(turn, flow_input):
        return
    if turn.state.is_active:
        turn.state.engine[UNTOUCHED] = True


async def _answered_by_first_message(turn: _Turn, flow_input: FlowInput) -> bool:
    """A customer who opens with "order" (or "Order a pizza") at a bot whose first question offers "Order a pizza"
    has answered it: when that buttons or list step allows it (`takesFirstMessage`), the option is
    taken (only a title or a title's first words: `opening_option`), and the step's own message is not sent."""
    state = turn.state
    node = turn.ctx.graph.nodes.get(state.current_node_id or "")
    if node is None or not state.is_active or state.engine.get("waiting") not in ("buttons", "list"):
        return False
    if node.data.get("takesFirstMessage") is not True or flow_input.kind != "text" or not flow_input.text:
        return False
    options = offered(turn.ctx, node)
    chosen = opening_option(flow_input.text, [title for _, title in options])
    if chosen is None:
        return False
    turn.ctx.log.append(f"first message {flow_input.text!r} answers node {node.id}: {options[chosen][1]!r}")
    del turn.ctx.outgoing[turn.sent_before.get(node.id, len(turn.ctx.outgoing)) :]
    await turn.resume(_tap_on(node, options[chosen], flow_input))
    return True


def _is_double_tap(state: ContextState, flow_input: FlowInput) -> bool:
    """The same option tapped again on the same message within DOUBLE_TAP_SECONDS of the tap this context took."""
    last = state.engine.get("lastTap")
    if flow_input.tapped_id is None or flow_input.reply_to is None or not isinstance(last, dict):
        return False
    if last.get("replyTo") != flow_input.reply_to or last.get("id") != flow_input.tapped_id:
        return False
    taken = _parse_time(last.get("at"))
    written = _utc(flow_input.written_at) if flow_input.written_at is not None else None
    return taken is None or written is None or abs((written - taken).total_seconds()) <= DOUBLE_TAP_SECONDS


def _node_asked_earlier(ctx: TurnContext, state: ContextState, flow_input: FlowInput, waiting: str) -> str | None:
    """For a tap on one of the bot's earlier prompts: the node of this context that asked it, for the customer who
    scrolled up to an earlier question and changed their answer. That is the step that sent the tapped message
    (by its text and options: two Yes/No steps may share option ids), else, when none matches it (its text came
    from variables since changed), the most recent step offering the tapped option that the node waiting now does
    not offer. None when the node waiting now is the one to take it."""
    graph = ctx.graph
    tapped = flow_input.tapped_id
    node_id = state.current_node_id
    if tapped is None or flow_input.quoted_prompt is None or node_id is None:
        return None
    node = graph.nodes[node_id]
    if waiting != node.type or waiting not in ("buttons", "list", "question"):
        return None
    quoted = flow_input.quoted
    if quoted is not None and flow_input.quoted_prompt == "earlier":
        sender = _step_that_sent(ctx, state, quoted)
        if sender is not None and tapped in option_ids(sender.type, sender.data):
            return None if sender.id == node_id else sender.id
    if tapped in option_ids(node.type, node.data):
        return None
    for earlier in reversed(state.node_history):
        candidate = graph.nodes.get(earlier)
        if earlier != node_id and candidate is not None and tapped in option_ids(candidate.type, candidate.data):
            return earlier
    return None


# How many of the most recent prompts of a context's path a quoted message is looked for in (_option_of_a_quoted_step).
EARLIER_STEPS_COMPARED = 20


def _tap_on(node: FlowNode, option: tuple[str, str], flow_input: FlowInput) -> FlowInput:
    kind: InputKind = "button" if node.type == "buttons" else "list"
    return FlowInput(
        kind=kind,
        text=option[1],
        button_id=option[0] if kind == "button" else None,
        list_row_id=option[0] if kind == "list" else None,
        written_at=flow_input.written_at,
    )


def _option_of_a_quoted_step(
    ctx: TurnContext, state: ContextState, flow_input: FlowInput, waiting: object
) -> tuple[str, FlowInput] | None:
    """For a text that quotes one of this chatbot's earlier buttons or lists (the bot sent more since) and names
    one of its options (the rules of typed choices): the step of this context's path that sent that message (the
    most recent with the same text and options) and the tap on it there. The customer answered that message, not
    the one waiting now. Only a quoted text goes back: one that merely holds an earlier title ("yes" to an email
    question after a Yes) is no choice the customer pointed at, and going back would run that step's branch
    again."""
    quoted = flow_input.quoted
    if flow_input.kind != "text" or not flow_input.text or quoted is None or quoted.newest:
        return None
    if flow_input.foreign_prompt or state.current_node_id is None or waiting not in _PROMPTS:
        return None
    chosen = chosen_option(flow_input.text, [title for _, title in quoted.options])
    if chosen is None:
        return None
    sender = _step_that_sent(ctx, state, quoted)
    if sender is None:
        return None
    return sender.id, _tap_on(sender, offered(ctx, sender)[chosen], flow_input)


def _step_that_sent(ctx: TurnContext, state: ContextState, quoted: QuotedMessage) -> FlowNode | None:
    """The most recent of this context's last buttons or list steps that sends `quoted` (its text and options, as
    they render now)."""
    wanted = "list" if quoted.is_list else "buttons"
    steps = [
        candidate
        for earlier in dict.fromkeys(reversed(state.node_history))
        if (candidate := ctx.graph.nodes.get(earlier)) is not None and candidate.type == wanted
    ]
    for candidate in steps[:EARLIER_STEPS_COMPARED]:
        if tuple(offered(ctx, candidate)) == quoted.options and sent_body(ctx, candidate) == quoted.body:
            return candidate
    return None


def _node_of_old_tap(graph: FlowGraph, flow_input: FlowInput) -> str | None:
    """For a tap on one of the bot's earlier prompts when no context runs (the flow ended, timed out, or was
    handed off and back): the one node of this graph that offers the tapped option, to go on from there rather
    than greet the customer again and drop their choice. None when no node, or several, offer it."""
    tapped = flow_input.tapped_id
    if tapped is None or flow_input.quoted_prompt is None:
        return None
    wanted = {"button": "buttons", "list": "list"}.get(flow_input.kind)
    offering = [
        node_id
        for node_id, node in graph.nodes.items()
        if node.type == wanted and tapped in option_ids(node.type, node.data)
    ]
    return offering[0] if len(offering) == 1 else None


def _is_late(state: ContextState, flow_input: FlowInput) -> bool:
    """Whether the customer wrote this before a message the context already took, by more than LATE_INPUT_SLACK:
    WhatsApp delivered it late (after retrying, days later at worst), so the question waiting now was asked after
    it was written and it cannot be the answer."""
    if flow_input.kind not in CUSTOMER_KINDS or flow_input.written_at is None:
        return False
    last = _parse_time(state.engine.get("lastInputAt"))
    return last is not None and _utc(flow_input.written_at) < last - LATE_INPUT_SLACK


def _ignored(state: ContextState, reason: str) -> TurnResult:
    return TurnResult(state, [], False, None, None, 0, [reason])


async def run_turn(
    graph: FlowGraph,
    state: ContextState | None,
    flow_input: FlowInput,
    *,
    contact: ContactInfo,
    now: datetime,
    settings: EngineSettings,
    http: HttpPerformer,
) -> TurnResult:
    """Run one turn. ``state=None`` starts a new context at the start node (the input is the trigger).

    The given state is never mutated; the result holds the new one.
    """
    with patterns.turn_budget():
        return await _run_turn(graph, state, flow_input, contact=contact, now=now, settings=settings, http=http)


async def _run_turn(
    graph: FlowGraph,
    state: ContextState | None,
    flow_input: FlowInput,
    *,
    contact: ContactInfo,
    now: datetime,
    settings: EngineSettings,
    http: HttpPerformer,
) -> TurnResult:
    if state is None:
        turn = _Turn(_context(graph, new_state(graph, now), contact, now, settings, http))
        if is_handoff(flow_input, settings):
            return await _hand_off(turn, flow_input)
        resumed = _node_of_old_tap(graph, flow_input)
        if resumed is not None:
            turn.ctx.log.append(
                f"tap on {flow_input.tapped_id!r} of an earlier prompt: a new context at node {resumed}"
            )
            await turn.go_back(resumed, flow_input, flow_input)
            return turn.result()
        notice = ""
        if _comes_back_after_timeout(graph, flow_input, settings):
            notice = turn.ctx.render(flow_input.timeout_notice, TEXT_LIMIT).strip()
            turn.ctx.log.append("the customer came back after the session timed out: timeout message first")
        await _start(turn, flow_input, first_message=True)
        result = turn.result()
        if notice:
            # Not counted in the turn's message limit: the start's own messages are all still sent.
            result.outgoing.insert(0, OutgoingMessage("text", {"body": notice}))
        return result
    state = state.copy()
    if not state.is_active:
        reason = state.ended_reason
        return TurnResult(state, [], False, reason, None, 0, ["context is not active; pass None to start anew"])
    if flow_input.kind == "welcome":
        # WhatsApp asks for a welcome when a customer opens the chat; a conversation under way has had its own.
        return _ignored(state, "welcome request ignored: the conversation is under way")
    if _is_late(state, flow_input):
        return _ignored(
            state, "message written before one the bot already took (delivered late): it answers nothing now"
        )
    turn = _Turn(_context(graph, state, contact, now, settings, http))
    if is_expired(state, now, settings):
        turn.ctx.log.append("session timed out")
        turn.finish("timeout")
        return turn.result()
    if is_restart(flow_input, settings):
        if flow_input.prompt_unseen and state.engine.get(UNTOUCHED) is True:
            # "hi" and "menu" at once: the customer asked for the start before seeing that they have it (any message
            # between them, unseen too, moved nothing).
            return _ignored(
                state, f"restart keyword {flow_input.text!r} written before the start's replies: already at the start"
            )
        turn.finish("restart")
        log = [*turn.ctx.log, f"restart keyword {flow_input.text!r}: starting over"]
        fresh = _Turn(_context(graph, new_state(graph, now), contact, now, settings, http))
        fresh.ctx.log.extend(log)
        fresh.state.engine["restartedAt"] = _utc(now).isoformat()
        await _start(fresh, flow_input)
        return fresh.result(restarted=True)
    node_id = state.current_node_id
    waiting = state.engine.get("waiting")
    waiting_node = graph.nodes.get(node_id) if node_id is not None and waiting in _PROMPTS else None
    if is_handoff(flow_input, settings) and not (
        waiting_node is not None
        and _an_option_of(
            turn.ctx,
            waiting_node,
            flow_input.text or "",
            in_a_sentence=not _says_keyword(flow_input, settings.handoff_keywords),
        )
    ):
        return await _hand_off(turn, flow_input)
    if node_id is None or node_id not in graph.nodes:
        turn.ctx.log.append(f"current node {node_id!r} no longer exists (chatbot edited)")
        turn.finish("node_missing")
        return turn.result()
    if _is_double_tap(state, flow_input):
        return _ignored(state, f"tap on {flow_input.tapped_id!r} ignored: the same option of that message again")
    if flow_input.foreign_prompt and flow_input.tapped_id is not None:
        # Another chatbot's message: as a tap on an earlier message no step of this context offered (below).
        turn.ctx.log.append(f"tap on {flow_input.tapped_id!r} of another chatbot's message: no choice here")
        flow_input = replace(flow_input, quoted_prompt="earlier")
        if waiting != "question":
            flow_input = replace(flow_input, button_id=None, list_row_id=None, text=None)
    elif isinstance(waiting, str) and (back := _node_asked_earlier(turn.ctx, state, flow_input, waiting)) is not None:
        # The customer changed an earlier answer: that question takes the tap, and the flow goes on from there.
        turn.ctx.log.append(f"tap on {flow_input.tapped_id!r} answers node {back}, asked earlier: back there")
        await turn.go_back(back, flow_input, flow_input)
        return turn.result()
    if flow_input.tapped_id is not None and flow_input.quoted_prompt == "earlier" and waiting == "question":
        # A tap on an old message that no step of this context asked: no answer to the question, nor a failed
        # try; the customer is shown the question they have to answer.
        turn.ctx.log.append(f"tap on {flow_input.tapped_id!r} of an earlier prompt: asking question {node_id} again")
        turn.state.engine["lastActivityAt"] = _utc(now).isoformat()
        turn.note_tap(flow_input)
        turn.ctx.send_text(graph.nodes[node_id].data.get("text"))
        return turn.result()
    if flow_input.kind == "timer" and waiting != "delay":
        return _ignored(state, "timer ignored: not waiting on a delay")
    node_type = graph.nodes[node_id].type
    if isinstance(waiting, str) and waiting != node_type:
        # Republished with another kind of node under this id: an answer to the old buttons is no answer to the
        # new question (nor a customer's message the end of a new delay). Enter the new node as if arriving.
        turn.ctx.log.append(f"node {node_id} is now a {node_type}, not the {waiting} it waited on: entering it")
        if flow_input.kind != "timer":
            turn.record_input(flow_input)
        turn.state.engine.pop("timerTurns", None)
        await turn.drive(node_id, None)
        return turn.result()
    if flow_input.kind == "timer":
        wake_at = _parse_time(state.engine.get("wakeAt"))
        if wake_at is not None and (wake_at - _utc(now)).total_seconds() > EARLY_TIMER_TOLERANCE_SECONDS:
            return _ignored(state, f"timer ignored: delay lasts until {wake_at.isoformat()}")
        timer_turns = state.engine.get("timerTurns")
        timer_turns = (timer_turns if isinstance(timer_turns, int) and timer_turns >= 0 else 0) + 1
        if timer_turns > settings.max_timer_turns:
            turn.ctx.log.append(f"{settings.max_timer_turns} delays in a row without a customer message")
            turn.finish("timer_limit")
            return turn.result()
        turn.state.engine["timerTurns"] = timer_turns
    elif waiting == "delay":
        state.engine.pop("timerTurns", None)  # the customer wrote: the delays in a row start again from 0
        return _ignored(state, "input ignored during a delay")
    else:
        turn.state.engine.pop("timerTurns", None)
    if (earlier := _option_of_a_quoted_step(turn.ctx, state, flow_input, waiting)) is not None:
        # "Actually the Margherita" swiped onto the pizza list while the quantity is asked: as a tap on that row.
        back, tap = earlier
        turn.ctx.log.append(f"text names option {tap.tapped_id!r} of node {back}, asked earlier: back there")
        await turn.go_back(back, flow_input, tap)
        return turn.result()
    turn.record_input(flow_input)
    await turn.resume(flow_input)
    return turn.result()
