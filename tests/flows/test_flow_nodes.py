from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from whatsapp_builder.flows import ContactInfo, EngineSettings, FlowInput, HttpResult, patterns
from whatsapp_builder.flows.conditions import evaluate_condition, evaluate_rule
from whatsapp_builder.flows.templating import Scope
from whatsapp_builder.flows.types import QuotedMessage
from whatsapp_builder.flows.words import chosen_option, keyword_key

from .flowkit import NOW, Bot, FakeHttp, bodies, chain, edge, graph_of, node

BUTTONS = [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No thanks"}]


def question(**validation: Any) -> dict[str, Any]:
    extra = {k: validation.pop(k) for k in ("retryPrompt", "maxRetries") if k in validation}
    return node("q", "question", text="Your answer?", variable="answer", validation=validation, **extra)


async def test_start_consumes_trigger_and_message_then_completes() -> None:
    bot = Bot(graph_of(*chain(node("m", "message", text="Hello {{contact.name}}, you said {{last_input}}"))))
    result = await bot.send("hi there")
    assert bodies(result) == ["Hello Ana, you said hi there"]
    assert result.ended_reason == "completed" and not result.state.is_active
    assert result.state.node_history == ["start", "m"]
    assert result.steps == 2


async def test_message_with_media() -> None:
    media = {"type": "document", "url": "https://x/{{file}}", "caption": "Your {{file}}", "filename": "a.pdf"}
    bot = Bot(
        graph_of(
            *chain(
                node("s", "set_variable", variable="file", value="menu.pdf"),
                node("m", "message", text="Here:", media=media),
            )
        )
    )
    result = await bot.send("hi")
    assert [m.type for m in result.outgoing] == ["text", "document"]
    assert result.outgoing[1].content == {"url": "https://x/menu.pdf", "caption": "Your menu.pdf", "filename": "a.pdf"}


async def test_media_caption_dropped_where_unsupported_and_empty_text_skipped() -> None:
    bot = Bot(
        graph_of(
            *chain(
                node(
                    "m",
                    "message",
                    text="{{nothing}}",
                    media={"type": "sticker", "url": "https://x/s.webp", "caption": "c"},
                )
            )
        )
    )
    result = await bot.send("hi")
    assert [m.to_dict() for m in result.outgoing] == [{"type": "sticker", "content": {"url": "https://x/s.webp"}}]


async def test_long_rendered_text_is_truncated() -> None:
    bot = Bot(
        graph_of(
            *chain(
                node("s", "set_variable", variable="long", value="x" * 4000),
                node("m", "message", text="{{long}}{{long}}"),
            )
        )
    )
    result = await bot.send("hi")
    assert len(result.outgoing[0].content["body"]) == 4096
    assert result.outgoing[0].content["body"].endswith("\u2026")


@pytest.mark.parametrize(
    ("validation", "answer", "stored"),
    [
        ({"type": "text"}, "  hello  ", "hello"),
        ({"type": "number"}, "42", 42),
        ({"type": "number"}, "2.5", 2.5),
        ({"type": "number"}, "2,5", 2.5),
        ({"type": "number", "min": 1, "max": 10}, "10", 10),
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "+3", 3),
        ({"type": "number", "wholeNumber": True}, "3.0", 3),
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "2 pizzas please!", 2),  # one number in words
        ({"type": "number"}, "(4)", 4),
        ({"type": "number"}, "2,5 kg", 2.5),
        ({"type": "number"}, "1,000 people", 1000),  # commas that group thousands
        ({"type": "number"}, "12,500.50", 12500.5),
        ({"type": "number"}, "0,500", 0.5),  # a decimal comma, not thousands
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "three", 3),  # as words
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "Three!", 3),
        ({"type": "number"}, "a dozen", 12),
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "2\ufe0f\u20e3", 2),  # a keycap emoji
        ({"type": "email"}, "ana@example.com", "ana@example.com"),
        ({"type": "phone"}, "+1 (555) 123-4567", "+15551234567"),
        ({"type": "phone"}, "0044 20 7946 0958", "+442079460958"),
        ({"type": "date"}, "2025-12-31", "2025-12-31"),
        ({"type": "date"}, "31/12/2025", "2025-12-31"),
        ({"type": "date"}, "31.12.2025", "2025-12-31"),
        ({"type": "date"}, "31 December 2025", "2025-12-31"),
        ({"type": "date"}, "Dec 31, 2025", "2025-12-31"),
        ({"type": "options", "options": ["Small", "Large"]}, " large ", "Large"),
        ({"type": "options", "options": ["Small", "Large"]}, "2", "Large"),
        ({"type": "options", "options": ["Small", "Large"]}, "Large!", "Large"),  # as customers write them
        ({"type": "options", "options": ["Yes", "No"]}, "(yes)", "Yes"),
        ({"type": "options", "options": ["Yes!", "No"]}, "yes", "Yes!"),
        ({"type": "options", "options": ["Small", "Large"]}, "a large one please", "Large"),
        ({"type": "regex", "pattern": "[A-Z]{3}-\\d+"}, "ABC-12", "ABC-12"),
        ({"type": "text", "minLength": 2, "maxLength": 3}, "abc", "abc"),
    ],
)
async def test_question_accepts_and_normalises(validation: dict[str, Any], answer: str, stored: Any) -> None:
    nodes, edges = chain(question(**validation), node("e", "end", text="Got {{answer}}"))
    bot = Bot(graph_of(nodes, edges))
    first = await bot.send("hi")
    assert bodies(first) == ["Your answer?"] and first.state.waiting_for == "question"
    result = await bot.send(answer)
    assert result.state.variables["answer"] == stored
    assert result.ended_reason == "completed"


@pytest.mark.parametrize(
    ("validation", "answer"),
    [
        ({"type": "number"}, "many"),
        ({"type": "number", "min": 1, "max": 10}, "11"),
        ({"type": "number"}, "nan"),
        ({"type": "number"}, "1 or 2"),  # which one?
        ({"type": "number"}, "3rd floor"),
        ({"type": "number"}, "about 3"),  # the number must come first
        ({"type": "number"}, "not 5"),
        ({"type": "number"}, "5 thousand"),  # a word that changes it
        ({"type": "number"}, "2 dozen"),
        ({"type": "number"}, "1 \u00bd"),  # one and a half
        ({"type": "number"}, "twenty one"),  # two numbers
        ({"type": "number"}, "one sec, checking with my wife"),  # a number word is an answer alone only
        ({"type": "number"}, "ten minutes"),
        ({"type": "number"}, "1 sec, checking"),  # digits too: a time is no count
        ({"type": "number"}, "10 minutes"),
        ({"type": "number"}, "1 question: is it vegan?"),
        ({"type": "number"}, "1 quick question: do you deliver?"),  # a sentence, not a count
        ({"type": "number"}, "1 more thing, is it vegan?"),
        ({"type": "number"}, "1 minuto"),
        ({"type": "number"}, "1.000 pizzas"),
        ({"type": "number"}, "12.500 EUR"),
        ({"type": "number"}, "one or two"),
        ({"type": "number"}, "1.000"),  # one, or a thousand as most of Europe writes it? asked again
        ({"type": "number"}, "12.500"),
        ({"type": "number", "min": 1, "max": 10}, "11 pizzas"),
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "3.5"),
        ({"type": "number", "min": 1, "max": 10, "wholeNumber": True}, "1e1"),
        ({"type": "email"}, "ana@"),
        ({"type": "phone"}, "12"),
        ({"type": "date"}, "31/31/2025"),
        ({"type": "options", "options": ["Small", "Large"]}, "Medium"),
        ({"type": "options", "options": ["Small", "Large"]}, "small or large"),  # which one?
        ({"type": "options", "options": ["Small", "Large"]}, "\u00b2"),  # a digit to isdigit(), not to int()
        ({"type": "regex", "pattern": "[A-Z]{3}"}, "ABCD"),
        ({"type": "text", "minLength": 5}, "abc"),
        ({"type": "text"}, "   "),
    ],
)
async def test_question_rejects(validation: dict[str, Any], answer: str) -> None:
    bot = Bot(graph_of(*chain(question(**validation), node("e", "end"))))
    await bot.send("hi")
    result = await bot.send(answer)
    assert result.state.is_active and result.state.waiting_for == "question"
    assert "answer" not in result.state.variables
    assert len(result.outgoing) == 1  # a retry prompt


@pytest.mark.parametrize(
    ("customer", "answer", "stored"),
    [
        ("+41791234567", "079 123 45 67", "+41791234567"),  # a Swiss customer writes a Swiss mobile nationally
        ("+41791234567", "+44 20 7946 0958", "+442079460958"),  # an international one is international anywhere
        ("+447911123456", "020 7946 0958", "+442079460958"),
        ("+15551234567", "(415) 555-0123", "+14155550123"),
        ("+41791234567", "41 79 123 45 67", "+41791234567"),  # international without its plus
        (None, "+41 79 123 45 67", "+41791234567"),
        ("+15551234567", "+1234567890", "+1234567890"),  # international forms are taken as written, as before
        ("+15551234567", "4155550123", "+14155550123"),  # national, not "+4155550123"
    ],
)
async def test_a_phone_question_reads_numbers_as_the_customers_country_writes_them(
    customer: str | None, answer: str, stored: str
) -> None:
    nodes, edges = chain(question(type="phone"), node("e", "end"))
    bot = Bot(graph_of(nodes, edges), contact=ContactInfo(name="Ana", phone=customer))
    await bot.send("hi")
    result = await bot.send(answer)
    assert result.state.variables.get("answer") == stored


@pytest.mark.parametrize(("customer", "answer"), [(None, "079 123 45 67"), ("+41791234567", "0000"),
                                                  ("+41791234567", "+41 12"),
                                                  # a US customer: a possible length, but no US area code
                                                  ("+16505551234", "079 123 45 67")])
async def test_a_phone_question_refuses_what_no_country_makes_a_number(customer: str | None, answer: str) -> None:
    bot = Bot(graph_of(*chain(question(type="phone"), node("e", "end"))), contact=ContactInfo(name="A", phone=customer))
    await bot.send("hi")
    result = await bot.send(answer)
    assert result.state.waiting_for == "question" and "answer" not in result.state.variables


async def test_question_retries_then_gives_up() -> None:
    nodes, edges = chain(question(type="number", retryPrompt="A number, {{contact.name}}!", maxRetries=3))
    nodes.append(node("human", "handoff", text="Let me get someone"))
    edges.append(edge("q", "human", "gave_up"))
    bot = Bot(graph_of(nodes, edges))
    await bot.send("hi")
    assert bodies(await bot.send("x")) == ["A number, Ana!"]
    assert bodies(await bot.send("y")) == ["A number, Ana!"]
    result = await bot.send("z")
    assert bodies(result) == ["Let me get someone"]
    assert result.handoff and result.ended_reason == "handoff"


async def test_a_message_whatsapp_could_not_pass_on_is_asked_again_without_counting() -> None:
    """An `unsupported` message (a poll, a view-once photo): the customer never saw a refusal, so it costs no try."""
    nodes, edges = chain(question(type="number", retryPrompt="A number, please", maxRetries=2))
    nodes.append(node("human", "handoff", text="Let me get someone"))
    edges.append(edge("q", "human", "gave_up"))
    bot = Bot(graph_of(nodes, edges))
    await bot.send("hi")
    unreadable = FlowInput.from_message("unsupported", {"originalType": "poll", "errors": []})
    for _ in range(3):
        result = await bot.send(unreadable)
        assert bodies(result) == ["A number, please"] and result.state.waiting_for == "question"
    assert bodies(await bot.send("x")) == ["A number, please"]  # the first wrong answer
    assert bodies(await bot.send("y")) == ["Let me get someone"]  # the second: gave up


async def test_question_gave_up_without_edge_ends_and_default_prompt() -> None:
    bot = Bot(graph_of(*chain(question(type="number", min=1, max=5))))
    await bot.send("hi")
    retry = await bot.send("x")
    assert bodies(retry) == ["Please answer with a number from 1 to 5."]
    result = await bot.send("y")
    assert result.ended_reason == "completed" and result.outgoing == []


async def test_question_does_not_take_the_trigger_as_answer_and_media_without_caption_is_invalid() -> None:
    bot = Bot(graph_of(*chain(question(type="text"))))
    first = await bot.send("hi")
    assert "answer" not in first.state.variables
    result = await bot.send(FlowInput(kind="media"))
    assert result.state.engine["retries"] == 1


def buttons_graph() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, edges = chain(
        node(
            "b",
            "buttons",
            text="Hi {{contact.name}}, sure?",
            header="Head",
            footer="Foot",
            buttons=BUTTONS,
            variable="choice",
            invalidPrompt="Pick one please",
        )
    )
    nodes += [node("y", "end", text="yes"), node("n", "end", text="no")]
    edges += [edge("b", "y", "yes"), edge("b", "n", "no")]
    return nodes, edges


async def test_buttons_message_shape() -> None:
    result = await Bot(graph_of(*buttons_graph())).send("hi")
    assert [m.to_dict() for m in result.outgoing] == [
        {
            "type": "interactive",
            "content": {
                "kind": "buttons",
                "body": "Hi Ana, sure?",
                "header": "Head",
                "footer": "Foot",
                "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No thanks"}],
            },
        }
    ]
    assert result.state.waiting_for == "buttons"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (FlowInput(kind="button", button_id="no", text="No thanks"), "no"),
        (FlowInput(kind="text", text="  NO THANKS "), "no"),
        (FlowInput(kind="text", text="yes"), "yes"),
        (FlowInput(kind="text", text="Yes!"), "yes"),  # a title typed as customers write it
        (FlowInput(kind="text", text="no thanks."), "no"),
        # written instead of tapped: a part of one title only
        (FlowInput(kind="text", text="no"), "no"),
    ],
)
async def test_buttons_select(reply: FlowInput, expected: str) -> None:
    bot = Bot(graph_of(*buttons_graph()))
    await bot.send("hi")
    result = await bot.send(reply)
    assert bodies(result) == [expected]
    assert result.state.variables["choice"] == ("Yes" if expected == "yes" else "No thanks")


async def test_buttons_invalid_resends_prompt_and_buttons() -> None:
    bot = Bot(graph_of(*buttons_graph()))
    await bot.send("hi")
    for _ in range(5):
        result = await bot.send("maybe")
        assert [m.type for m in result.outgoing] == ["text", "interactive"]
        assert result.outgoing[0].content == {"body": "Pick one please"}
        assert result.state.is_active and result.state.current_node_id == "b"
    result = await bot.send(FlowInput(kind="button", button_id="unknown"))
    assert result.state.is_active


def list_graph() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sections = [
        {"title": "Hot", "rows": [{"id": "tea", "title": "Tea", "description": "Green or black"}]},
        {"title": "Cold", "rows": [{"id": "juice", "title": "Juice"}]},
    ]
    nodes, edges = chain(
        node("l", "list", text="Drinks", buttonLabel="Menu", footer="f", sections=sections, variable="drink")
    )
    nodes += [node("e", "end", text="One {{drink}}")]
    edges += [edge("l", "e", "tea"), edge("l", "e", "juice")]
    return nodes, edges


async def test_list_message_shape_and_selection() -> None:
    bot = Bot(graph_of(*list_graph()))
    first = await bot.send("hi")
    assert first.outgoing[0].to_dict() == {
        "type": "interactive",
        "content": {
            "kind": "list",
            "body": "Drinks",
            "footer": "f",
            "button": "Menu",
            "sections": [
                {"title": "Hot", "rows": [{"id": "tea", "title": "Tea", "description": "Green or black"}]},
                {"title": "Cold", "rows": [{"id": "juice", "title": "Juice"}]},
            ],
        },
    }
    assert first.state.waiting_for == "list"
    again = await bot.send("coffee")
    assert [m.type for m in again.outgoing] == ["interactive"]  # no invalidPrompt set
    result = await bot.send(FlowInput(kind="list", list_row_id="juice", text="Juice"))
    assert bodies(result) == ["One Juice"]


async def test_list_text_title_selects() -> None:
    bot = Bot(graph_of(*list_graph()))
    await bot.send("hi")
    assert bodies(await bot.send("tea?")) == ["One Tea"]


@pytest.mark.parametrize(("written", "drink"), [("a juice please", "Juice"), ("TEA!", "Tea")])
async def test_list_row_written_within_a_message(written: str, drink: str) -> None:
    bot = Bot(graph_of(*list_graph()))
    await bot.send("hi")
    assert bodies(await bot.send(written)) == [f"One {drink}"]


async def test_a_number_is_no_row_of_a_list_nor_a_button() -> None:
    """WhatsApp shows rows and buttons unnumbered: "2" at a list of pizzas is more likely how many than the second
    row, so it is asked again rather than guessed."""
    bot = Bot(graph_of(*list_graph()))
    await bot.send("hi")
    again = await bot.send("2")
    assert [m.type for m in again.outgoing] == ["interactive"] and again.state.current_node_id == "l"
    buttons = Bot(graph_of(*buttons_graph()))
    await buttons.send("hi")
    assert bodies(await buttons.send("1")) == ["Pick one please", "Hi Ana, sure?"]


MENU = ["Order a pizza", "Opening hours", "Talk to a human"]


@pytest.mark.parametrize(
    ("written", "chosen"),
    [
        ("order", 0),
        ("PIZZA!", 0),
        ("hours?", 1),
        ("human", 2),
        ("I'd like to order a pizza please", 0),
        ("what are your opening hours?", 1),
        # nothing, rather than a guess:
        ("to", None),  # a short word inside a title
        ("a", None),  # a part of two titles
        ("I don't want to talk to a human", None),  # a refusal before the title
        ("I don\u2019t want to order a pizza", None),
        ("not the opening hours, talk to a human", None),  # a refusal before counts for all after it: asked again
        ("3", None),  # buttons are shown unnumbered
        ("order a pizza, or talk to a human", None),  # two titles within the message
        ("I want a pizza", None),  # no title in it, and not part of one
        ("pizzas", None),  # words are whole
    ],
)
def test_option_written_instead_of_tapped(written: str, chosen: int | None) -> None:
    assert chosen_option(written, MENU) == chosen


def test_short_titles_and_refusals_written_in_a_sentence_choose_nothing() -> None:
    pizzas = ["Margherita", "Pepperoni", "Veggie", "Hawaiian"]
    assert chosen_option("pepperoni please", pizzas) == 1
    for refused in ("not pepperoni", "no pepperoni", "didnt want pepperoni", "without the veggie", "pas de veggie"):
        assert chosen_option(refused, pizzas) is None, refused
    for sentence in ("no problem", "no worries", "yes, it's ana at gmail dot com"):
        assert chosen_option(sentence, ["Yes", "No"]) is None, sentence  # "Yes", "No": alone or polite only
    assert chosen_option("Yes!", ["Yes", "No"]) == 0
    assert chosen_option("yes please", ["Yes", "No"]) == 0 and chosen_option("no, thank you", ["Yes", "No"]) == 1
    assert chosen_option("sorry but can I talk to a human?", MENU) == 2
    # titles within one another: the longest
    assert chosen_option("pizza and drink please", ["Pizza", "Pizza and drink"]) == 1
    # words of signs only are left out of titles
    assert chosen_option("can I talk to a human", ["\U0001f4de Talk to a human", "Menu"]) == 0
    assert chosen_option("no", ["\u2705 Yes", "\u274c No"]) == 1


def test_titles_and_keywords_written_without_their_accents_are_found() -> None:
    """Customers often type without accents: "si" is the button "Sí", "creme brulee" the row "Crème brûlée"."""
    assert chosen_option("si", ["Sí", "No"]) == 0
    assert chosen_option("creme brulee please", ["Crème brûlée", "Tarte Tatin"]) == 0
    assert chosen_option("CAFE", ["Café", "Thé"]) == 0
    assert chosen_option("καλημερα", ["Καλημέρα", "Γεια"]) == 0
    # written with them, or with others, it is the same title
    assert chosen_option("Sì", ["Si", "No"]) == 0
    # the marks of other scripts are part of their letters: "й" is no "и", a Devanagari vowel sign no accent
    assert chosen_option("кии", ["кий", "мяч"]) is None
    assert chosen_option("कताब", ["किताब", "कलम"]) is None
    assert keyword_key("¡Menú!") == keyword_key("menu")


async def test_an_answer_to_a_later_question_does_not_go_back_to_a_yes_or_no() -> None:
    """Confirm [Yes][No], then a paid step, then an email question: "yes" or "yes, it's ana at gmail dot com" is a
    wrong email, asked again, not a second Yes (which would run the paid step again); "no" is no No."""
    nodes = [
        node("start", "start", triggerKeywords=["hi"]),
        node("confirm", "buttons", text="Place the order?", buttons=[{"id": "y", "title": "Yes"},
                                                                      {"id": "n", "title": "No"}]),
        node("placed", "message", text="Order placed."),
        node("q", "question", text="Your email?", variable="email", validation={"type": "email"}, maxRetries=5),
        node("cancel", "end", text="Order cancelled."),
        node("e", "end", text="Thanks"),
    ]
    edges = [edge("start", "confirm"), edge("confirm", "placed", "y"), edge("confirm", "cancel", "n"),
             edge("placed", "q"), edge("q", "e")]
    bot = Bot(graph_of(nodes, edges))
    await bot.send("hi")
    assert bodies(await bot.send("yes")) == ["Order placed.", "Your email?"]
    for written in ("yes", "no", "yes, it's ana at gmail dot com", "no email sorry"):
        again = await bot.send(written)
        assert again.state.current_node_id == "q" and "Order placed." not in bodies(again), written
    assert bodies(await bot.send("ana@example.com")) == ["Thanks"]


async def test_a_swipe_reply_goes_back_to_the_step_that_sent_the_quoted_message() -> None:
    """Two Yes/No steps with the same option ids: "no" replying to the first one's message answers that one (not the
    most recent step offering "no"); replying to the newest message is the waiting step's, as any text."""
    yes_no = [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]
    nodes = [
        node("start", "start", triggerKeywords=["hi"]),
        node("d", "buttons", text="Delivery?", buttons=yes_no),
        node("c", "buttons", text="Confirm order?", buttons=yes_no),
        node("pickup", "end", text="Pickup then."),
        node("cancel", "end", text="Order cancelled."),
        node("q", "question", text="Your email?", variable="email", validation={"type": "email"}, maxRetries=5),
        node("e", "end", text="Thanks"),
    ]
    edges = [edge("start", "d"), edge("d", "c", "yes"), edge("d", "pickup", "no"), edge("c", "q", "yes"),
             edge("c", "cancel", "no"), edge("q", "e")]
    delivery = QuotedMessage(False, "Delivery?", (("yes", "Yes"), ("no", "No")), newest=False)
    bot = Bot(graph_of(nodes, edges))
    await bot.send("hi")
    await bot.send("yes")
    await bot.send("yes")
    assert bot.state is not None and bot.state.current_node_id == "q"
    back = await bot.send(FlowInput(kind="text", text="no", reply_to="wamid.D", quoted=delivery))
    assert bodies(back) == ["Pickup then."]
    again = Bot(graph_of(nodes, edges))
    for text in ("hi", "yes", "yes"):
        await again.send(text)
    newest = replace(delivery, newest=True)  # as if nothing was sent since: the waiting question's to take
    assert bodies(await again.send(FlowInput(kind="text", text="no", quoted=newest))) != ["Pickup then."]

    # A tap on the first one's "No" while the second waits (it offers "no" too) answers the first, not the second.
    tapped = Bot(graph_of(nodes, edges))
    for text in ("hi", "yes"):
        await tapped.send(text)
    assert tapped.state is not None and tapped.state.current_node_id == "c"
    tap = FlowInput(kind="button", button_id="no", text="No", reply_to="wamid.D", quoted_prompt="earlier",
                    quoted=delivery)
    assert bodies(await tapped.send(tap)) == ["Pickup then."]


def test_numbers_choose_by_position_only_when_asked_and_no_title_is_a_number() -> None:
    assert chosen_option("3", MENU, by_number=True) == 2
    assert chosen_option("4", MENU, by_number=True) is None and chosen_option("0", MENU, by_number=True) is None
    assert chosen_option("2", ["10", "20"], by_number=True) is None
    assert chosen_option("20", ["10", "20"], by_number=True) == 1
    # titles that start with a number: the one that starts with it, not the one at that place
    assert chosen_option("2", ["2 people", "4 people", "6 people"], by_number=True) == 0
    assert chosen_option("5", ["5 stars", "4 stars", "1 star"], by_number=True) == 0
    # titles with numbers in them: a number is no place among them, only the title with that number as a word
    assert [chosen_option(n, ["Today", "Tomorrow", "3 days from now"], by_number=True) for n in "123"] == [
        None, None, 2
    ]
    assert chosen_option("2", ["Table for 2", "Table for 4", "Table for 6"], by_number=True) == 0
    assert chosen_option("3", ["Table for 2", "Table for 4", "Table for 6"], by_number=True) is None
    assert chosen_option("2", ["1-2 people", "3-4 people", "5+ people"], by_number=True) is None
    assert chosen_option("2", ["4 slices", "8 slices"], by_number=True) is None
    assert chosen_option("9" * 5000, ["a"], by_number=True) is None
    # buttons and rows: a number is no choice, even of a title that starts with it (a quantity written ahead)
    assert chosen_option("2", ["2 for 1 deal", "Single"]) is None


@pytest.mark.parametrize(
    ("rules", "match", "expected"),
    [
        ([{"variable": "n", "operator": "equals", "value": "10.0"}], "all", True),
        ([{"variable": "n", "operator": "greater_than", "value": 9}], "all", True),
        ([{"variable": "n", "operator": "less_than", "value": "9"}], "all", False),
        ([{"variable": "s", "operator": "equals", "value": "HELLO world"}], "all", True),
        ([{"variable": "s", "operator": "not_equals", "value": "hello"}], "all", True),
        ([{"variable": "s", "operator": "contains", "value": "WORLD"}], "all", True),
        ([{"variable": "s", "operator": "starts_with", "value": "Hello"}], "all", True),
        ([{"variable": "s", "operator": "matches_regex", "value": "^hel+o"}], "all", True),
        ([{"variable": "s", "operator": "is_set"}], "all", True),
        ([{"variable": "missing", "operator": "is_set"}], "all", False),
        ([{"variable": "empty", "operator": "is_not_set"}], "all", True),
        ([{"variable": "s", "operator": "greater_than", "value": 3}], "all", False),
        ([{"variable": "d", "operator": "greater_than", "value": "2025-01-01"}], "all", True),
        ([{"variable": "s", "operator": "equals", "value": "{{s}}"}], "all", True),
        ([{"variable": "contact.name", "operator": "equals", "value": "ana"}], "all", True),
        (
            [{"variable": "n", "operator": "equals", "value": 1}, {"variable": "s", "operator": "is_set"}],
            "any",
            True,
        ),
        (
            [{"variable": "n", "operator": "equals", "value": 1}, {"variable": "s", "operator": "is_set"}],
            "all",
            False,
        ),
    ],
)
async def test_condition(rules: list[dict[str, Any]], match: str, expected: bool) -> None:
    nodes, edges = chain(
        node(
            "set",
            "set_variable",
            assignments=[
                {"variable": "n", "value": "10"},
                {"variable": "s", "value": "hello world"},
                {"variable": "empty", "value": ""},
                {"variable": "d", "value": "2025-06-01"},
            ],
        ),
        node("c", "condition", match=match, rules=rules),
    )
    nodes += [node("t", "end", text="T"), node("f", "end", text="F")]
    edges += [edge("c", "t", "true"), edge("c", "f", "false")]
    result = await Bot(graph_of(nodes, edges)).send("hi")
    assert bodies(result) == ["T" if expected else "F"]


def test_bad_regex_evaluates_false_at_run_time() -> None:
    scope = Scope({"s": "hello"}, ContactInfo())
    assert evaluate_rule({"variable": "s", "operator": "matches_regex", "value": "(["}, scope) is False
    assert evaluate_rule({"variable": "s", "operator": "unknown", "value": "x"}, scope) is False
    assert evaluate_condition({"match": "all", "rules": "nope"}, scope) is False


async def test_condition_without_edge_for_branch_completes() -> None:
    nodes, edges = chain(node("c", "condition", match="all", rules=[{"variable": "x", "operator": "is_set"}]))
    result = await Bot(graph_of(nodes, edges)).send("hi")
    assert result.ended_reason == "completed"


async def test_set_variable_forms_and_templating() -> None:
    nodes, edges = chain(
        node("a", "set_variable", variable="first", value="{{contact.name}}"),
        node(
            "b",
            "set_variable",
            assignments=[{"variable": "greeting", "value": "Hi {{ first }}"}, {"variable": "count", "value": 3}],
        ),
    )
    result = await Bot(graph_of(nodes, edges)).send("hi")
    assert result.state.variables == {"last_input": "hi", "first": "Ana", "greeting": "Hi Ana", "count": 3}


def http_graph(**data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, edges = chain(node("h", "http_request", **data))
    nodes += [node("ok", "end", text="ok {{name}} {{status}}"), node("bad", "end", text="bad {{status}}")]
    edges += [edge("h", "ok", "success"), edge("h", "bad", "error")]
    return nodes, edges


async def test_http_request_success_maps_response() -> None:
    http = FakeHttp(HttpResult(ok=True, status=200, json={"data": {"items": [{"name": "Widget"}]}}))
    nodes, edges = http_graph(
        method="POST",
        url="https://api.example.com/u/{{contact.phone}}",
        headers={"Authorization": "Bearer {{token}}"},
        body={"who": "{{contact.name}}", "n": 1},
        timeoutSeconds=5,
        responseMapping=[{"variable": "name", "path": "data.items.0.name"}, {"variable": "gone", "path": "x.y"}],
        statusVariable="status",
    )
    result = await Bot(graph_of(nodes, edges), http=http).send("hi")
    assert bodies(result) == ["ok Widget 200"]
    request = http.requests[0]
    assert request.method == "POST" and request.url == "https://api.example.com/u/+15551234567"
    assert request.headers == {"Authorization": "Bearer "}
    assert request.json == {"who": "Ana", "n": 1} and request.body is None and request.timeout == 5
    assert result.state.variables["gone"] is None


async def test_http_request_string_body_and_errors() -> None:
    http = FakeHttp(HttpResult(ok=False, status=500, error="HTTP 500"))
    nodes, edges = http_graph(method="PUT", url="https://x", body="name={{contact.name}}", statusVariable="status")
    result = await Bot(graph_of(nodes, edges), http=http).send("hi")
    assert bodies(result) == ["bad 500"]
    assert http.requests[0].body == "name=Ana" and http.requests[0].timeout == 10
    refused = FakeHttp(HttpResult(ok=False, error="refused"))
    assert bodies(await Bot(graph_of(nodes, edges), http=refused).send("hi")) == ["bad "]


async def test_a_turns_http_requests_share_one_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """An http_request whose error exit loops back to it: each request times out, and once the turn's
    TURN_HTTP_SECONDS are spent the node fails at once instead of waiting fifty times its timeout."""
    from whatsapp_builder.flows.nodes import http_request

    clock = [1000.0]
    monkeypatch.setattr(http_request.time, "monotonic", lambda: clock[0])

    class TimingOut(FakeHttp):
        async def perform(self, request: Any) -> HttpResult:
            self.requests.append(request)
            clock[0] += request.timeout  # as long as its timeout, then no answer
            return HttpResult(ok=False, error="timeout")

    http = TimingOut()
    nodes = [node("start", "start"), node("h", "http_request", method="GET", url="https://slow.example", timeoutSeconds=12),
             node("again", "jump", targetNodeId="h")]
    edges = [edge("start", "h"), edge("h", "again", "error")]
    result = await Bot(graph_of(nodes, edges), http=http).send("hi")
    assert [r.timeout for r in http.requests] == [12, 12, 6]  # 30 s in all, the last one cut to what was left
    assert result.ended_reason == "step_limit"


async def test_a_response_value_too_big_for_a_variable_is_null() -> None:
    big = {"rows": ["x" * 1000] * 100}  # about 100 KB as JSON
    http = FakeHttp(HttpResult(ok=True, status=200, json={"small": {"a": 1}, "big": big}))
    nodes, edges = http_graph(method="GET", url="https://x", responseMapping=[
        {"variable": "small", "path": "small"}, {"variable": "big", "path": "big"}, {"variable": "all", "path": ""}])
    result = await Bot(graph_of(nodes, edges), http=http).send("hi")
    assert result.state.variables["small"] == {"a": 1}
    assert result.state.variables["big"] is None and result.state.variables["all"] is None


async def test_http_performer_that_raises_is_an_error_branch() -> None:
    class Broken:
        async def perform(self, request: Any) -> HttpResult:
            raise RuntimeError("boom")

    nodes, edges = http_graph(method="GET", url="https://x")
    bot = Bot(graph_of(nodes, edges))
    bot.http = Broken()  # type: ignore[assignment]
    assert bodies(await bot.send("hi")) == ["bad "]


async def test_delay_waits_for_timer_and_ignores_messages() -> None:
    nodes, edges = chain(
        node("m1", "message", text="one"), node("d", "delay", seconds=60), node("m2", "message", text="two")
    )
    bot = Bot(graph_of(nodes, edges))
    first = await bot.send("hi")
    assert bodies(first) == ["one"]
    assert first.wake_at == NOW + timedelta(seconds=60)
    assert first.state.waiting_for == "delay" and first.state.engine["wakeAt"] == first.wake_at.isoformat()
    ignored = await bot.send("hello?", now=NOW + timedelta(seconds=10))
    assert ignored.outgoing == [] and ignored.state.is_active and ignored.state.current_node_id == "d"
    early = await bot.send(FlowInput.timer(), now=NOW + timedelta(seconds=30))
    assert early.outgoing == [] and early.state.current_node_id == "d"
    woken = await bot.send(FlowInput.timer(), now=NOW + timedelta(seconds=60))
    assert bodies(woken) == ["two"] and woken.ended_reason == "completed" and woken.wake_at is None


async def test_timer_ignored_when_not_in_delay() -> None:
    bot = Bot(graph_of(*buttons_graph()))
    await bot.send("hi")
    result = await bot.send(FlowInput.timer())
    assert result.outgoing == [] and result.state.is_active and result.steps == 0


async def test_jump_continues_at_target() -> None:
    nodes, edges = chain(node("j", "jump", targetNodeId="target"))
    nodes.append(node("target", "end", text="landed"))
    result = await Bot(graph_of(nodes, edges)).send("hi")
    assert bodies(result) == ["landed"]
    assert result.state.node_history == ["start", "j", "target"]


async def test_handoff_and_end() -> None:
    handoff = await Bot(graph_of(*chain(node("h", "handoff")))).send("hi")
    assert handoff.handoff and handoff.ended_reason == "handoff" and handoff.outgoing == []
    assert handoff.state.engine["endedReason"] == "handoff" and not handoff.state.is_active
    end = await Bot(graph_of(*chain(node("e", "end", text="Bye {{contact.name}}")))).send("hi")
    assert not end.handoff and end.ended_reason == "completed" and bodies(end) == ["Bye Ana"]


async def test_a_delay_loop_stops_after_the_timer_limit_and_a_customer_message_resets_it() -> None:
    nodes, edges = chain(node("d", "delay", seconds=1), node("tick", "message", text="tick"))
    edges.append(edge("tick", "d"))
    bot = Bot(graph_of(nodes, edges), settings=EngineSettings(max_timer_turns=3))
    await bot.send("hi")
    now = NOW
    ticks = []
    for _ in range(10):
        now += timedelta(seconds=1)
        result = await bot.send(FlowInput.timer(), now=now)
        ticks += bodies(result)
        if not result.state.is_active:
            break
    assert ticks == ["tick"] * 3 and result.ended_reason == "timer_limit"
    # A customer who writes during the delays (ignored there) keeps the loop going.
    bot = Bot(graph_of(nodes, edges), settings=EngineSettings(max_timer_turns=3))
    await bot.send("hi")
    for i in range(6):
        await bot.send("still here", now=NOW + timedelta(seconds=i + 0.5))
        woken = await bot.send(FlowInput.timer(), now=NOW + timedelta(seconds=i + 1))
        assert bodies(woken) == ["tick"] and woken.state.is_active
    # With a customer message between the wakes, a reminder loop goes on.
    bot = Bot(graph_of(*chain(node("q", "question", text="Still there?", variable="a", validation={"type": "text"}), node("d", "delay", seconds=1),
                              node("again", "jump", targetNodeId="q"))), settings=EngineSettings(max_timer_turns=1))
    await bot.send("hi")
    for i in range(4):
        await bot.send(f"answer {i}", now=NOW + timedelta(seconds=2 * i))
        woken = await bot.send(FlowInput.timer(), now=NOW + timedelta(seconds=2 * i + 1))
        assert bodies(woken) == ["Still there?"] and woken.state.is_active


async def test_a_pattern_that_backtracks_forever_counts_as_no_match_at_once() -> None:
    import time

    nodes, edges = chain(
        node("set", "set_variable", assignments=[{"variable": "s", "value": "a" * 40 + "!"}]),
        node("c", "condition", match="all", rules=[{"variable": "s", "operator": "matches_regex", "value": "^(a|aa)+$"}]),
    )
    nodes += [node("t", "end", text="T"), node("f", "end", text="F")]
    edges += [edge("c", "t", "true"), edge("c", "f", "false")]
    started = time.monotonic()
    result = await Bot(graph_of(nodes, edges)).send("hi")
    # Python's re needs about ten seconds here, holding the event loop that serves everyone.
    assert bodies(result) == ["F"] and time.monotonic() - started < 2
    question, edges = chain(node("q", "question", text="Code?", variable="code",
                                 validation={"type": "regex", "pattern": "(a|aa)+"}, retryPrompt="Again?"))
    bot = Bot(graph_of(question, edges))
    await bot.send("hi")
    started = time.monotonic()
    assert bodies(await bot.send("a" * 40 + "!")) == ["Again?"] and time.monotonic() - started < 2
    assert bot.state is not None and "code" not in bot.state.variables
    assert bodies(await bot.send("aaaa")) == [] and bot.state.variables["code"] == "aaaa"


async def test_many_slow_patterns_in_a_loop_share_one_time_budget_per_turn() -> None:
    """Each match stops after 50 ms, but twenty rules that a jump brings back fifty times would hold the event
    loop for most of a minute: a turn's patterns share TURN_PATTERN_SECONDS, then count as no match."""
    import time

    rules = [{"variable": "last_input", "operator": "matches_regex", "value": rf"(\w+\s?)+${n}"} for n in range(20)]
    nodes = [
        node("start", "start"),
        node("c", "condition", match="any", rules=rules),
        node("again", "jump", targetNodeId="c"),
        node("t", "end", text="T"),
    ]
    edges = [edge("start", "c"), edge("c", "t", "true"), edge("c", "again", "false")]
    started = time.monotonic()
    result = await Bot(graph_of(nodes, edges)).send("redos " + "a" * 4080 + "!")
    assert time.monotonic() - started < 2 * patterns.TURN_PATTERN_SECONDS + 1
    assert result.ended_reason == "step_limit" and bodies(result) == []


async def test_a_media_url_over_2048_characters_after_templating_is_not_sent() -> None:
    """A cut URL would point at another file: the media is skipped (logged), the text and the flow go on."""
    media = {"type": "image", "url": "https://x/{{path}}", "caption": "Look"}
    for length, sent in ((2048, True), (2049, False), (3017, False)):
        bot = Bot(graph_of(*chain(
            node("s", "set_variable", variable="path", value="p" * (length - len("https://x/"))),
            node("m", "message", text="Here:", media=media),
            node("after", "message", text="Next"),
        )))
        result = await bot.send("hi")
        assert bodies(result)[0] == "Here:" and bodies(result)[-1] == "Next"
        images = [m for m in result.outgoing if m.type == "image"]
        assert len(images) == int(sent), length
        if sent:
            assert len(images[0].content["url"]) == length
        else:
            assert any("media skipped: URL is" in line and str(length) in line for line in result.log)
        assert result.ended_reason == "completed"


async def test_a_restart_keyword_written_with_the_first_message_does_not_start_again() -> None:
    """"hi" and "menu" in one batch: the restart finds the context where it would put it, and does nothing. Once
    the context moved (or when the customer saw the replies: not prompt_unseen), "menu" restarts."""
    bot = Bot(graph_of(*buttons_graph()), settings=EngineSettings(restart_keywords=("menu",)))
    await bot.send("hi")
    assert (await bot.send(FlowInput(kind="text", text="what?", prompt_unseen=True))).outgoing == []
    ignored = await bot.send(FlowInput(kind="text", text="Menu!", prompt_unseen=True))
    assert ignored.outgoing == [] and not ignored.restarted and ignored.state.current_node_id == "b"
    seen = await bot.send(FlowInput(kind="text", text="menu"))
    assert seen.restarted and [m.type for m in seen.outgoing] == ["interactive"]

    nodes, edges = chain(question(type="number"), node("b", "buttons", text="Sure?", buttons=BUTTONS))
    asked = Bot(graph_of(nodes, edges), settings=EngineSettings(restart_keywords=("menu",)))
    await asked.send("hi")
    answered = await asked.send(FlowInput(kind="text", text="4", prompt_unseen=True))
    assert answered.state.current_node_id == "b"
    again = await asked.send(FlowInput(kind="text", text="menu", prompt_unseen=True))
    assert again.restarted and again.state.current_node_id == "q" and bodies(again) == ["Your answer?"]


async def test_an_answer_written_before_the_prompt_was_sent_is_not_asked_again_nor_counted() -> None:
    """FlowInput.prompt_unseen: the runner's mark for a message of the same batch as the one that made the bot
    ask. A wrong answer is then ignored; a right one is still taken."""
    bot = Bot(graph_of(*buttons_graph()))
    await bot.send("hi")
    ignored = await bot.send(FlowInput(kind="text", text="hello?", prompt_unseen=True))
    assert ignored.outgoing == [] and ignored.state.current_node_id == "b"
    assert bodies(await bot.send(FlowInput(kind="text", text="yes", prompt_unseen=True))) == ["yes"]

    nodes, edges = chain(question(type="number", maxRetries=1), node("e", "end", text="Got {{answer}}"))
    asker = Bot(graph_of(nodes, edges))
    await asker.send("hi")
    unseen = await asker.send(FlowInput(kind="text", text="many", prompt_unseen=True))
    assert unseen.outgoing == [] and unseen.state.is_active and unseen.state.engine.get("retries", 0) == 0
    assert bodies(await asker.send("4")) == ["Got 4"]
