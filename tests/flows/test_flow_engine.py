from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from whatsapp_builder.flows import (
    ContextState,
    EngineSettings,
    FlowInput,
    compile_graph,
    has_trigger_keywords,
    is_expired,
    run_turn,
    start_matches,
)

from .flowkit import CONTACT, NOW, Bot, FakeHttp, bodies, chain, edge, graph_of, node

BUTTONS = [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]


def waiting_graph() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    nodes, edges = chain(
        node("m", "message", text="Welcome"),
        node("q", "question", text="Name?", variable="name", validation={"type": "text"}),
        node("e", "end", text="Bye {{name}}"),
    )
    return nodes, edges


def test_start_matches() -> None:
    nodes, edges = chain(node("e", "end"))
    nodes[0]["data"]["triggerKeywords"] = ["Hi", "order  pizza", " "]
    graph = compile_graph(nodes, edges)
    assert has_trigger_keywords(graph)
    assert start_matches(graph, "hi")
    assert start_matches(graph, "  HI  ")
    assert start_matches(graph, "hi there")
    assert start_matches(graph, "Order Pizza now")
    assert not start_matches(graph, "hithere")
    assert not start_matches(graph, "say hi")
    assert not start_matches(graph, "")
    assert not start_matches(graph, None)


def test_keywords_match_without_the_punctuation_around_them() -> None:
    nodes, edges = chain(node("e", "end"))
    nodes[0]["data"]["triggerKeywords"] = ["hi", "#order", "?"]
    graph = compile_graph(nodes, edges)
    for text in ("Hi!", "hi.", "¡Hi!", "“hi”", "(hi)", "hi!!! there", "hi :)"):
        assert start_matches(graph, text), text
    assert start_matches(graph, "#order") and not start_matches(graph, "order")  # a sign before a word is its own
    assert start_matches(graph, "?") and start_matches(graph, "? what")  # a keyword of punctuation only is itself
    assert not start_matches(graph, "hi-fi") and not start_matches(graph, "hive!")
    nodes[0]["data"]["triggerKeywords"] = ["c#"]
    graph = compile_graph(nodes, edges)
    assert start_matches(graph, "C#!") and not start_matches(graph, "c")  # and after it ("C#", "50%")


def test_no_trigger_keywords() -> None:
    graph = compile_graph(*chain(node("e", "end")))
    graph.nodes["start"].data.get("triggerKeywords")
    nodes, edges = chain(node("e", "end"))
    nodes[0]["data"] = {}
    graph = compile_graph(nodes, edges)
    assert not has_trigger_keywords(graph) and not start_matches(graph, "hi")


async def test_input_state_is_not_mutated_and_state_is_json() -> None:
    bot = Bot(graph_of(*waiting_graph()))
    first = await bot.send("hi")
    snapshot = json.dumps(first.state.to_dict(), sort_keys=True)
    second = await bot.send("Ana")
    assert json.dumps(first.state.to_dict(), sort_keys=True) == snapshot
    assert second.state is not first.state
    restored = ContextState.from_dict(json.loads(json.dumps(second.state.to_dict())))
    assert restored == second.state


async def test_variables_and_last_input() -> None:
    bot = Bot(graph_of(*waiting_graph()))
    first = await bot.send("hi")
    assert first.state.variables == {"last_input": "hi"}
    assert first.state.engine["startedAt"] == NOW.isoformat()
    result = await bot.send(FlowInput(kind="button", button_id="x", text="Bob"))
    assert result.state.variables == {"last_input": "Bob", "name": "Bob"}
    assert bodies(result) == ["Bye Bob"]


async def test_last_input_is_empty_after_a_message_without_text() -> None:
    """A sticker after a captioned image: {{last_input}} is not the caption any more."""
    bot = Bot(graph_of(*waiting_graph()))
    assert (await bot.send(FlowInput(kind="media", text="look"))).state.variables["last_input"] == "look"
    assert (await bot.send(FlowInput(kind="media"))).state.variables["last_input"] == ""


async def test_session_timeout() -> None:
    settings = EngineSettings(session_timeout=timedelta(minutes=30))
    bot = Bot(graph_of(*waiting_graph()), settings=settings)
    first = await bot.send("hi")
    assert not is_expired(first.state, NOW + timedelta(minutes=30), settings)
    assert is_expired(first.state, NOW + timedelta(minutes=31), settings)
    assert not is_expired(first.state, NOW + timedelta(days=1), EngineSettings())
    assert not is_expired(None, NOW, settings)
    still = await bot.send("Ana", now=NOW + timedelta(minutes=29))
    assert still.ended_reason == "completed"

    bot = Bot(graph_of(*waiting_graph()), settings=settings)
    await bot.send("hi")
    expired = await bot.send("Ana", now=NOW + timedelta(minutes=31))
    assert expired.ended_reason == "timeout" and expired.outgoing == []
    assert not expired.state.is_active and expired.state.engine["endedReason"] == "timeout"
    assert "name" not in expired.state.variables


async def test_a_customer_back_after_a_timeout_is_told_why_the_bot_starts_over() -> None:
    settings = EngineSettings(session_timeout=timedelta(minutes=30))
    notice = "Welcome back {{contact.name | friend}}! We start over."
    graph = graph_of(*waiting_graph())
    back = FlowInput(kind="text", text="Ana", timeout_notice=notice)
    result = await run_turn(graph, None, back, contact=CONTACT, now=NOW, settings=settings, http=FakeHttp())
    assert bodies(result) == ["Welcome back Ana! We start over.", "Welcome", "Name?"]
    assert result.state.is_active

    # Not when the message asks for the start itself (a trigger or restart keyword), nor without a notice.
    for flow_input in (
        FlowInput(kind="text", text="hi", timeout_notice=notice),
        FlowInput(kind="text", text="restart", timeout_notice=notice),
        FlowInput(kind="text", text="Ana", timeout_notice="  "),
        FlowInput(kind="text", text="Ana"),
    ):
        fresh = await run_turn(graph, None, flow_input, contact=CONTACT, now=NOW, settings=settings, http=FakeHttp())
        assert bodies(fresh) == ["Welcome", "Name?"], flow_input


async def test_the_timeout_notice_takes_no_place_of_the_starts_own_messages() -> None:
    """A start that sends as many messages as a turn may still sends them all, its question last, after it."""
    nodes, edges = chain(
        *(node(f"m{i}", "message", text=f"line {i}") for i in range(9)),
        node("q", "question", text="Name?", variable="name", validation={"type": "text"}),
    )
    back = FlowInput(kind="text", text="2", timeout_notice="Welcome back!")
    result = await run_turn(
        graph_of(nodes, edges), None, back, contact=CONTACT, now=NOW, settings=EngineSettings(), http=FakeHttp()
    )
    assert bodies(result)[0] == "Welcome back!" and bodies(result)[-1] == "Name?" and len(bodies(result)) == 11


async def test_activity_moves_the_timeout_and_naive_times_work() -> None:
    settings = EngineSettings(session_timeout=timedelta(minutes=10))
    nodes, edges = chain(node("b", "buttons", text="?", buttons=BUTTONS))
    edges += [edge("b", "start", "a"), edge("b", "start", "b")]
    bot = Bot(graph_of(nodes, edges), settings=settings)
    await bot.send("hi")
    for minutes in (8, 16, 24):
        result = await bot.send("nope", now=NOW + timedelta(minutes=minutes))
        assert result.state.is_active
    naive = datetime(2026, 1, 1, 12, 40)
    assert is_expired(result.state, naive, settings)


async def test_delay_does_not_time_out() -> None:
    settings = EngineSettings(session_timeout=timedelta(minutes=5))
    nodes, edges = chain(node("d", "delay", seconds=3600), node("m", "message", text="later"))
    bot = Bot(graph_of(nodes, edges), settings=settings)
    await bot.send("hi")
    result = await bot.send(FlowInput.timer(), now=NOW + timedelta(hours=1))
    assert bodies(result) == ["later"]


async def test_restart_keyword_starts_over_in_the_same_call() -> None:
    bot = Bot(graph_of(*waiting_graph()), settings=EngineSettings(restart_keywords=("restart", "Start  Over")))
    await bot.send("hi")
    result = await bot.send("  START over! ")
    assert result.restarted
    assert bodies(result) == ["Welcome", "Name?"]
    assert result.state.is_active and result.state.current_node_id == "q"
    assert result.state.node_history == ["start", "m", "q"]
    assert result.ended_reason is None
    assert any("restart" in line for line in result.log)


async def test_restart_during_a_delay_and_not_as_question_answer_part() -> None:
    nodes, edges = chain(node("d", "delay", seconds=60), node("m", "message", text="later"))
    bot = Bot(graph_of(nodes, edges))
    await bot.send("hi")
    result = await bot.send("restart")
    assert result.restarted and result.state.waiting_for == "delay" and result.wake_at is not None
    bot = Bot(graph_of(*waiting_graph()))
    await bot.send("hi")
    answered = await bot.send("restart please")
    assert not answered.restarted and answered.state.variables["name"] == "restart please"


async def test_current_node_deleted_by_an_edit() -> None:
    bot = Bot(graph_of(*waiting_graph()))
    await bot.send("hi")
    nodes, edges = chain(node("e", "end", text="new version"))
    bot.graph = graph_of(nodes, edges)
    result = await bot.send("Ana")
    assert result.ended_reason == "node_missing" and result.outgoing == [] and not result.state.is_active


async def test_inactive_state_stays_silent() -> None:
    bot = Bot(graph_of(*chain(node("h", "handoff", text="human"))))
    first = await bot.send("hi")
    assert first.handoff
    again = await bot.send("hello?")
    assert again.outgoing == [] and again.ended_reason == "handoff" and not again.handoff and again.steps == 0


async def test_step_limit_with_a_jump_cycle() -> None:
    nodes, edges = chain(node("m", "message", text="spam"), node("j", "jump", targetNodeId="m"))
    settings = EngineSettings(max_steps=50, max_messages_per_turn=10)
    result = await Bot(graph_of(nodes, edges), settings=settings).send("hi")
    assert result.ended_reason == "step_limit" and not result.state.is_active
    assert result.steps == 50
    assert len(result.outgoing) == 10
    assert any("step limit" in line for line in result.log)
    assert len(result.state.node_history) == 50


async def test_jump_to_itself_is_bounded() -> None:
    nodes, edges = chain(node("j", "jump", targetNodeId="j"))
    result = await Bot(graph_of(nodes, edges), settings=EngineSettings(max_steps=7)).send("hi")
    assert result.ended_reason == "step_limit" and result.steps == 7


async def test_history_is_capped() -> None:
    nodes, edges = chain(node("b", "buttons", text="?", buttons=BUTTONS))
    edges += [edge("b", "start", "a"), edge("b", "start", "b")]
    bot = Bot(graph_of(nodes, edges), settings=EngineSettings(history_limit=5))
    await bot.send("hi")
    for _ in range(5):
        result = await bot.send({"buttonId": "a"})  # type: ignore[arg-type]
    assert result.state.node_history == ["start", "b", "start", "b", "start", "b"][-5:]


async def test_new_context_with_none_state_and_other_inputs() -> None:
    graph = graph_of(*waiting_graph())
    for flow_input in (FlowInput(kind="start"), FlowInput(kind="media"), FlowInput.timer()):
        result = await run_turn(
            graph, None, flow_input, contact=CONTACT, now=NOW, settings=EngineSettings(), http=FakeHttp()
        )
        assert result.state.current_node_id == "q"
        # A customer's message without text (media without a caption) leaves it empty; no message, unset.
        assert result.state.variables.get("last_input") == ("" if flow_input.kind == "media" else None)


async def test_corrupted_waiting_marker_reenters_the_node() -> None:
    bot = Bot(graph_of(*waiting_graph()))
    first = await bot.send("hi")
    assert bot.state is not None
    bot.state.engine.pop("waiting")
    result = await bot.send("Ana")
    assert bodies(result) == ["Name?"] and result.state.waiting_for == "question"
    assert first.state.current_node_id == "q"


_NAME = node("x", "question", text="Name?", variable="n", validation={"type": "text"})
_PICK = node("x", "buttons", text="Pick", buttons=BUTTONS)
_WAIT = node("x", "delay", seconds=60)


def _graph_with(waiting_node: dict[str, object]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    nodes, edges = chain(waiting_node, node("e", "end", text="Bye {{n}}"))
    if waiting_node["type"] == "buttons":
        edges = [edge("start", "x"), edge("x", "e", "a"), edge("x", "e", "b")]
    return nodes, edges


@pytest.mark.parametrize(
    ("old", "new", "answer", "sent", "waiting"),
    [
        (_PICK, _NAME, {"buttonReply": {"id": "a", "title": "A"}}, ["Name?"], "question"),
        (_NAME, _PICK, "Ana", ["Pick"], "buttons"),
        (_NAME, _WAIT, "Ana", [], "delay"),
        (_WAIT, _NAME, "Ana", ["Name?"], "question"),
    ],
    ids=["buttons-to-question", "question-to-buttons", "question-to-delay", "delay-to-question"],
)
async def test_a_waiting_node_republished_as_another_type_is_entered_afresh(
    old: dict[str, object], new: dict[str, object], answer: object, sent: list[str], waiting: str
) -> None:
    """The customer never saw the new node: their message is no answer to it (nor the end of a new delay)."""
    bot = Bot(graph_of(*_graph_with(old)))
    await bot.send("hi")
    assert bot.state is not None and bot.state.engine["waiting"] == old["type"]
    bot.graph = graph_of(*_graph_with(new))
    result = await bot.send(answer)  # type: ignore[arg-type]
    assert bodies(result) == sent and result.state.is_active
    assert result.state.current_node_id == "x" and result.state.engine["waiting"] == waiting
    assert "n" not in result.state.variables
    assert (result.wake_at is not None) == (waiting == "delay")


async def test_a_delay_republished_as_a_question_asks_it_when_the_timer_fires() -> None:
    bot = Bot(graph_of(*_graph_with(_WAIT)))
    await bot.send("hi")
    bot.graph = graph_of(*_graph_with(_NAME))
    result = await bot.send(FlowInput(kind="timer"), now=NOW + timedelta(minutes=2))
    assert bodies(result) == ["Name?"] and result.state.engine["waiting"] == "question"
    assert result.state.variables["last_input"] == "hi"  # the timer is not a customer message
    assert bodies(await bot.send("Ana")) == ["Bye Ana"]


def _menu_then_question() -> Bot:
    """A menu (buttons), then a sizes list, then a question: the shape of the demo's order path."""
    nodes, edges = chain(
        node("menu", "buttons", text="Menu", buttons=[{"id": "order", "title": "Order"}, {"id": "hours", "title": "H"}]),
        node("size", "list", text="Size?", buttonLabel="Sizes", sections=[{"rows": [{"id": "s", "title": "Small"}, {"id": "l", "title": "L"}]}]),
        node("qty", "question", text="How many?", variable="qty", validation={"type": "number"}),
        node("end", "end", text="Done: {{qty}}"),
    )
    edges = [e for e in edges if e["source"] not in ("menu", "size")]
    edges += [edge("menu", "size", "order"), edge("menu", "menu", "hours"), edge("size", "qty", "s"), edge("size", "qty", "l")]
    return Bot(graph_of(nodes, edges))


def tap(kind: str, option: str, quoted: str | None, on: str = "wamid.menu", seconds: int = 0) -> FlowInput:
    """A tap as the runner hands it over: the prompt it was made `on` (WhatsApp's context.id), which of the bot's
    prompts that is (`quoted`), and when it was written (`seconds` after NOW)."""
    written = NOW + timedelta(seconds=seconds)
    ids = {"button_id": option} if kind == "button" else {"list_row_id": option}
    return FlowInput(kind=kind, text=option, reply_to=on, quoted_prompt=quoted, written_at=written, **ids)  # type: ignore[arg-type]


async def test_a_double_tap_answers_nothing_but_the_same_option_tapped_again_later_does() -> None:
    bot = _menu_then_question()
    await bot.send("hi")
    assert bodies(await bot.send(tap("button", "hours", "latest", seconds=1))) == ["Menu"]  # the menu, anew
    before = bot.state
    double = await bot.send(tap("button", "hours", "earlier", seconds=2))  # the first menu again, at once
    assert double.outgoing == [] and "same option" in double.log[0] and bot.state == before
    # A minute later, scrolled up to that first menu: meant, and the menu the flow came back to offers it.
    assert bodies(await bot.send(tap("button", "hours", "earlier", seconds=62))) == ["Menu"]


async def test_a_tap_on_an_old_prompt_after_the_flow_ended_goes_on_from_that_prompt() -> None:
    """No context runs (the flow ended, timed out, or was handed off): a tap on a prompt the bot sent earlier is
    the customer's choice there, not a greeting to answer with the whole flow from the start."""
    bot = _menu_then_question()
    await bot.send("hi")
    await bot.send(tap("button", "order", "latest", seconds=1))
    await bot.send(tap("list", "s", "latest", on="wamid.sizes", seconds=2))
    assert bodies(await bot.send("2")) == ["Done: 2"] and bot.state is not None and not bot.state.is_active
    bot.state = None  # as the runner starts a new context when none is active
    result = await bot.send(tap("list", "l", "earlier", on="wamid.sizes", seconds=60))
    assert bodies(result) == ["How many?"]
    assert result.state.node_history == ["size", "qty"] and any("earlier prompt" in line for line in result.log)
    assert bodies(await bot.send("3")) == ["Done: 3"]
    # Not a prompt of the bot's (no quoted prompt), or an option no node offers: the flow starts as before.
    bot.state = None
    assert bodies(await bot.send(tap("button", "order", None, seconds=90))) == ["Menu"]
    bot.state = None
    assert bodies(await bot.send(tap("button", "gone", "earlier", seconds=95))) == ["Menu"]


async def test_the_same_tap_after_something_else_was_written_is_no_double_tap() -> None:
    bot = _menu_then_question()
    await bot.send("hi")
    assert bodies(await bot.send(tap("button", "hours", "latest", seconds=1))) == ["Menu"]
    assert bodies(await bot.send("what?")) == ["Menu"]  # no option matched: the menu again
    assert bodies(await bot.send(tap("button", "hours", "earlier", seconds=5))) == ["Menu"]  # taken, not ignored


async def test_an_earlier_answer_changed_on_its_prompt_takes_the_flow_back_there() -> None:
    bot = _menu_then_question()
    await bot.send("hi")
    await bot.send(tap("button", "order", "latest", seconds=1))
    assert bodies(await bot.send(tap("list", "s", "latest", on="wamid.sizes", seconds=2))) == ["How many?"]
    # The question waits; the customer picks another size on the list instead: the list takes it, and the
    # question is asked again for that size, rather than "L" being a wrong number of pizzas.
    changed = await bot.send(tap("list", "l", "latest", on="wamid.sizes", seconds=5))
    assert bodies(changed) == ["How many?"]
    assert changed.state.node_history[-3:] == ["qty", "size", "qty"] and changed.state.engine["retries"] == 0
    # Scrolled up to the menu: "H" was asked there (the menu loops on it).
    assert bodies(await bot.send(tap("button", "hours", "earlier", seconds=9))) == ["Menu"]
    assert bodies(await bot.send(tap("button", "order", "latest", on="wamid.menu2", seconds=12))) == ["Size?"]
    await bot.send(tap("list", "s", "latest", on="wamid.sizes2", seconds=15))
    assert bodies(await bot.send("2")) == ["Done: 2"]


async def test_a_tap_no_step_of_the_context_asked_gets_the_question_again_and_spends_no_try() -> None:
    bot = _menu_then_question()
    await bot.send("hi")
    await bot.send(tap("button", "order", "latest", seconds=1))
    await bot.send(tap("list", "s", "latest", on="wamid.sizes", seconds=2))
    before = bot.state
    assert before is not None
    # An option of a message of an earlier run of the flow, or of a node since removed: asked again.
    reminded = await bot.send(tap("button", "gone", "earlier", on="wamid.old", seconds=5))
    assert bodies(reminded) == ["How many?"]
    assert reminded.state.variables == before.variables and reminded.state.engine["retries"] == 0
    assert bodies(await bot.send("2")) == ["Done: 2"]


async def test_taps_without_a_known_prompt_behave_as_before() -> None:
    bot = _menu_then_question()
    await bot.send("hi")
    # Not quoting a prompt of the bot's (no context, or one the runner did not find): an unknown option is asked again.
    result = await bot.send(tap("button", "nope", None))
    assert bodies(result) == ["Menu"]
    # Quoting the newest prompt with an option it no longer has (the flow was republished): asked again too.
    assert bodies(await bot.send(tap("button", "gone", "latest", seconds=1))) == ["Menu"]
    assert bodies(await bot.send(tap("button", "gone2", "earlier", on="wamid.other", seconds=2))) == ["Menu"]


async def test_a_message_written_before_one_already_taken_answers_nothing() -> None:
    bot = _menu_then_question()
    await bot.send(FlowInput(kind="text", text="hi", written_at=NOW))
    await bot.send(tap("button", "order", "latest", seconds=10))
    await bot.send(tap("list", "s", "latest", on="wamid.sizes", seconds=60))
    before = bot.state
    # WhatsApp retried a "7" for three days: written long before the question it would now answer.
    late = await bot.send(FlowInput(kind="text", text="7", written_at=NOW - timedelta(days=3)))
    assert late.outgoing == [] and "delivered late" in late.log[0] and bot.state == before
    # A few seconds out of order is WhatsApp's ordinary disorder (whole-second timestamps): still an answer.
    done = await bot.send(FlowInput(kind="text", text="2", written_at=NOW + timedelta(seconds=55)))
    assert bodies(done) == ["Done: 2"]


def handoff_graph() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """A question, then buttons with one titled "Agent", and two handoff steps off the path."""
    nodes, edges = chain(
        node("q", "question", text="How many?", variable="n", validation={"type": "number"}),
        node("b", "buttons", text="Who?", buttons=[{"id": "bot", "title": "Agent"}, {"id": "x", "title": "X"}]),
    )
    nodes += [
        node("e", "end", text="Done"),
        node("first", "handoff", text="Someone will answer"),
        node("team", "handoff", text="Our team is here"),
    ]
    return nodes, [*edges, edge("b", "e", "bot"), edge("b", "e", "x")]


async def test_a_handoff_keyword_hands_off_from_any_step_through_the_chosen_handoff_step() -> None:
    settings = EngineSettings(handoff_keywords=("agent", "Talk to a human"), handoff_node_id="team")
    bot = Bot(graph_of(*handoff_graph()), settings=settings)
    await bot.send("hi")
    result = await bot.send("  talk to a HUMAN! ")  # at a number question: no wrong answer, a hand-off
    assert result.handoff and result.ended_reason == "handoff"
    assert bodies(result) == ["Our team is here"]
    assert not result.state.is_active and result.state.variables["last_input"] == "  talk to a HUMAN! "
    # Without handoffNodeId (or with one that is no handoff step): the graph's first handoff step.
    for chosen in (None, "q", "nowhere"):
        bot = Bot(graph_of(*handoff_graph()), settings=EngineSettings(handoff_keywords=("agent",), handoff_node_id=chosen))
        await bot.send("hi")
        assert bodies(await bot.send("agent")) == ["Someone will answer"]
    # Not configured: "agent" is an answer like any other (here a wrong one).
    bot = Bot(graph_of(*handoff_graph()))
    await bot.send("hi")
    result = await bot.send("agent")
    assert not result.handoff and result.state.is_active and result.state.current_node_id == "q"


async def test_an_option_of_the_step_waiting_wins_over_a_handoff_keyword() -> None:
    settings = EngineSettings(handoff_keywords=("agent",), handoff_node_id="team")
    bot = Bot(graph_of(*handoff_graph()), settings=settings)
    await bot.send("hi")
    await bot.send("2")
    result = await bot.send("Agent")  # the button titled "Agent" of the step waiting
    assert not result.handoff and bodies(result) == ["Done"]
    assert result.state.variables.get("last_input") == "Agent"
    # A keyword that only holds an option's title is still the keyword.
    bot = Bot(graph_of(*handoff_graph()), settings=EngineSettings(handoff_keywords=("an agent please",)))
    await bot.send("hi")
    await bot.send("2")
    assert (await bot.send("an agent please")).handoff


async def test_a_handoff_keyword_asked_for_in_a_sentence_hands_off() -> None:
    """A keyword of three words or more held in a sentence ("I want to talk to a person"), or a keyword of one or
    two words with polite words only ("agent please"), hands off as the keyword does; a refusal before it, a shorter
    keyword among other words ("thanks for the great customer service!"), or a word that only starts like one does
    not. An option of the step waiting that the sentence chooses by the typed-choice rules ("Agent please" at a
    button "Agent") is still that step's choice."""
    settings = EngineSettings(
        handoff_keywords=("agent", "talk to a person", "customer service"), handoff_node_id="team"
    )
    for said in ("I want to talk to a person", "Can I talk to a person, please?", "agent please", "Agent, thanks!",
                 "customer service please"):
        bot = Bot(graph_of(*handoff_graph()), settings=settings)
        await bot.send("hi")
        result = await bot.send(said)  # at the number question: no wrong answer, a hand-off
        assert result.handoff and bodies(result) == ["Our team is here"], said
    for said in ("I don't want to talk to a person", "no, talk to a person", "is the agent on his way?", "agents",
                 "talk to a personal trainer", "3 please", "thanks for the great customer service!",
                 "great customer service, 2 please"):
        bot = Bot(graph_of(*handoff_graph()), settings=settings)
        await bot.send("hi")
        result = await bot.send(said)
        assert not result.handoff and result.state.is_active, said
    bot = Bot(graph_of(*handoff_graph()), settings=settings)
    await bot.send("hi")
    await bot.send("2")
    result = await bot.send("Agent please")  # the button "Agent", chosen by typing
    assert not result.handoff and bodies(result) == ["Done"]
    bot = Bot(graph_of(*handoff_graph()), settings=settings)
    await bot.send("hi")
    await bot.send("2")
    assert (await bot.send("agent")).handoff is False  # its title, exactly: as before
    first = await Bot(graph_of(*handoff_graph()), settings=settings).send("hello, can I talk to a person?")
    assert first.handoff and bodies(first) == ["Our team is here"]  # as the first message: no greeting first


async def test_a_handoff_keyword_as_the_first_message_or_with_no_handoff_step() -> None:
    settings = EngineSettings(handoff_keywords=("agent",), handoff_node_id="team")
    bot = Bot(graph_of(*handoff_graph()), settings=settings)
    first = await bot.send("Agent")
    assert first.handoff and bodies(first) == ["Our team is here"]
    nodes, edges = waiting_graph()
    bot = Bot(graph_of(nodes, edges), settings=EngineSettings(handoff_keywords=("agent",)))
    await bot.send("hi")
    result = await bot.send("agent")
    assert result.handoff and result.outgoing == [] and not result.state.is_active
    assert any("no handoff node" in line for line in result.log)


async def test_a_handoff_keyword_during_a_delay_hands_off() -> None:
    nodes, edges = chain(node("d", "delay", seconds=600), node("m", "message", text="later"))
    nodes.append(node("h", "handoff", text="A person will answer"))
    bot = Bot(graph_of(nodes, edges), settings=EngineSettings(handoff_keywords=("human",)))
    await bot.send("hi")
    result = await bot.send("human")
    assert result.handoff and bodies(result) == ["A person will answer"] and result.wake_at is None


async def test_a_first_prompt_that_takes_the_first_message_is_answered_by_it_and_not_sent() -> None:
    def graph(takes: bool) -> object:
        nodes, edges = chain(
            node("m", "message", text="Welcome"),
            node("b", "buttons", text="What now?", buttons=[{"id": "o", "title": "Order food"}, {"id": "h", "title": "Hours"}],
                 takesFirstMessage=takes),
        )
        nodes += [node("food", "end", text="Food it is"), node("hours", "end", text="9 to 5")]
        return graph_of(nodes, [*edges, edge("b", "food", "o"), edge("b", "hours", "h")])

    taken = await Bot(graph(True)).send("Order!")  # type: ignore[arg-type]
    assert bodies(taken) == ["Welcome", "Food it is"] and taken.ended_reason == "completed"
    assert taken.state.node_history == ["start", "m", "b", "food"]
    # Not marked: the first message only starts the bot, as before.
    assert bodies(await Bot(graph(False)).send("order")) == ["Welcome", "What now?"]  # type: ignore[arg-type]
    # A first message that names no option, or holds a title in a sentence, gets the question.
    for other in ("hi", "I want to order food", "food"):
        asked = await Bot(graph(True)).send(other)  # type: ignore[arg-type]
        assert bodies(asked) == ["Welcome", "What now?"] and asked.state.waiting_for == "buttons", other
    # A restart keyword asks for the start: it is no answer to the question.
    bot = Bot(graph(True), settings=EngineSettings(restart_keywords=("hours",)))  # type: ignore[arg-type]
    await bot.send("hi")
    restarted = await bot.send("hours")
    assert restarted.restarted and bodies(restarted) == ["Welcome", "What now?"]
