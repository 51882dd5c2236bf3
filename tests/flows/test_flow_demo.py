from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from whatsapp_builder.flows import ContactInfo, EngineSettings, test_run, validate_graph
from whatsapp_builder.flows.bot_settings import engine_settings, metadata_problems

from .flowkit import FakeHttp

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-chatbot.json"


# The quantity question's retry prompt.
RETRY = ("Please send a whole number from 1 to 10, like 2. For another pizza, tap it in the list above; for more than "
         "10, write 'agent'.")


def demo() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return data


def settings() -> EngineSettings:
    return engine_settings(demo()["metadata"], max_steps=50)


async def as_ana(inputs: list[Any]) -> list[Any]:
    """The demo's steps for these inputs from Ana (+1555), a customer new to it."""
    data = demo()
    return await test_run(
        data["nodes"], data["edges"], inputs, contact=ContactInfo(name="Ana", phone="+1555"), settings=settings(),
        http=FakeHttp(),
    )


async def first_answer(text: str) -> list[Any]:
    """How the demo ends its first turn for Ana's `text` (None while it goes on) and what it sends."""
    step = (await as_ana([text]))[0]
    return [step.ended_reason, [m["content"].get("body") for m in step.messages]]


THANKED = ["completed", ["You're welcome! Write 'menu' any time to order again."]]


def test_demo_validates_clean() -> None:
    data = demo()
    assert data["name"] == "Demo: pizza order"
    report = validate_graph(data["nodes"], data["edges"])
    assert report.errors == [] and report.warnings == []
    assert metadata_problems(data["metadata"]) == []
    start = next(n for n in data["nodes"] if n["type"] == "start")
    assert set(start["data"]["triggerKeywords"]) >= {"hi", "hello", "order", "pizza", "start"}


async def test_demo_happy_path() -> None:
    data = demo()
    steps = await test_run(
        data["nodes"],
        data["edges"],
        ["Hi", {"buttonId": "order"}, {"listRowId": "pepperoni", "title": "Pepperoni"}, "lots", "5"],
        contact=ContactInfo(name="Ana", phone="+15551234567"),
        settings=settings(),
        http=FakeHttp(),
    )
    assert steps[0].messages[0] == {"type": "text", "content": {"body": "Hi Ana! Welcome to Pizza Place \U0001f355"}}
    assert steps[0].waiting_for == "buttons"
    assert steps[1].waiting_for == "list"
    assert steps[2].messages[0]["content"]["body"] == "How many Pepperoni pizzas would you like? (1-10)"
    assert steps[3].messages == [{"type": "text", "content": {"body": RETRY}}]
    last = steps[4]
    assert last.ended_reason == "completed"
    assert [m["content"]["body"] for m in last.messages] == [
        "Great news: orders of more than 3 pizzas get 10% off!",
        "Thanks Ana! Your order of 5 x Pepperoni with 10% off is confirmed and will be ready in 30 minutes.",
    ]
    assert last.variables["order.summary"] == "5 x Pepperoni"


async def test_demo_small_order_hours_menu_restart_and_handoff() -> None:
    data = demo()
    steps = await test_run(
        data["nodes"],
        data["edges"],
        ["hello", "opening hours", "menu", "Order a pizza", "margherita", "2"],
        settings=settings(),
        http=FakeHttp(),
    )
    assert steps[1].messages[0]["content"]["body"].startswith("We are open")
    assert steps[1].waiting_for == "buttons"  # jumped back to the menu
    assert steps[2].messages[1]["content"]["kind"] == "buttons"
    assert [m["content"]["body"] for m in steps[5].messages] == [
        "Thanks Test user! Your order of 2 x Margherita is confirmed and will be ready in 30 minutes."
    ]
    human = await test_run(data["nodes"], data["edges"], ["hello", {"buttonId": "human"}], http=FakeHttp())
    assert human[1].handoff and human[1].ended_reason == "handoff"
    gave_up = await test_run(
        data["nodes"],
        data["edges"],
        ["hi", {"buttonId": "order"}, {"listRowId": "veggie"}, "a", "b", "c"],
        http=FakeHttp(),
    )
    assert gave_up[-1].handoff and gave_up[-1].messages[0]["content"]["body"].startswith("Sorry")


async def test_demo_answers_typed_instead_of_tapped() -> None:
    """A customer who types instead of tapping: a word of a button, a row's title in a sentence, a question."""
    data = demo()
    steps = await test_run(
        data["nodes"],
        data["edges"],
        ["hi", "order", "the pepperoni please", "3", "menu", "what are your opening hours?", "human"],
        settings=settings(),
        http=FakeHttp(),
    )
    assert steps[1].waiting_for == "list"
    assert steps[2].messages[0]["content"]["body"] == "How many Pepperoni pizzas would you like? (1-10)"
    assert [m["content"]["body"] for m in steps[3].messages] == [
        "Thanks Test user! Your order of 3 x Pepperoni is confirmed and will be ready in 30 minutes."
    ]
    assert steps[5].messages[0]["content"]["body"].startswith("We are open")
    assert steps[6].handoff and steps[6].ended_reason == "handoff"


async def test_demo_typed_options_of_an_earlier_step_do_not_go_back_to_it() -> None:
    """Mid-order, a typed text that only names an option of an earlier step (the menu's "Talk to a human", another
    pizza) is no choice the customer pointed at: the question asks again (a swipe-reply to that step's message
    goes back: tests/whatsapp/test_loop.py). Refusals and loose mentions count as wrong answers like any other."""
    data = demo()
    loose = await test_run(
        data["nodes"], data["edges"],
        ["hi", "order", "pepperoni", "Is the veggie one vegan?", "I don't want to talk to a human", "2"],
        settings=settings(), http=FakeHttp(),
    )
    for step in loose[3:5]:
        assert [m["content"]["body"] for m in step.messages] == [RETRY]
    assert not any(step.handoff for step in loose)
    assert loose[5].variables["order.summary"] == "2 x Pepperoni"
    hours = await test_run(data["nodes"], data["edges"], ["hi", "order", "opening hours?"], settings=settings(),
                           http=FakeHttp())
    assert hours[2].messages[0]["content"]["body"] == "Please pick a pizza from the list." and hours[2].waiting_for == "list"


def test_docs_example_validates_clean() -> None:
    text = (DEMO.parents[1] / "docs" / "flows.md").read_text(encoding="utf-8")
    block = text.split("## A complete small example")[1].split("```json")[1].split("```")[0]
    data = json.loads(block)
    report = validate_graph(data["nodes"], data["edges"])
    assert report.errors == [] and report.warnings == []
    assert metadata_problems(data["metadata"]) == []


async def test_asking_for_a_human_by_typing_hands_off_from_any_step() -> None:
    """The demo's handoff keywords: "talk to a human" typed while the quantity is asked (a wrong answer before)
    reaches the team, with the menu button's message."""
    data = demo()
    for typed in ("talk to a human", "Agent!", "a real person", "a real pizza"):
        steps = await test_run(
            data["nodes"],
            data["edges"],
            ["Hi", {"buttonId": "order"}, {"listRowId": "pepperoni", "title": "Pepperoni"}, typed],
            contact=ContactInfo(name="Ana", phone="+15551234567"),
            settings=settings(),
            http=FakeHttp(),
        )
        last = steps[-1]
        if typed == "a real pizza":  # no keyword in it: a wrong answer to the quantity, asked again
            assert last.ended_reason is None and last.waiting_for == "question"
            continue
        assert last.ended_reason == "handoff", typed
        assert [m["content"]["body"] for m in last.messages] == [
            "One moment Ana, a member of our team will answer you here."
        ]


async def test_a_first_message_naming_a_menu_option_goes_straight_to_it() -> None:
    """The demo's menu takes the first message when it is an option's title or its first words: "order" opens with
    the welcome and the pizza list (the menu is not sent). A sentence holding a title, or a word from inside one,
    gets the menu: "I tried to order a pizza but it never came" is no order, "pizza" may only check the shop."""
    data = demo()

    async def first(text: str) -> list[str]:
        steps = await test_run(
            data["nodes"], data["edges"], [text], contact=ContactInfo(name="Ana", phone="+1555"), settings=settings(),
            http=FakeHttp(),
        )
        return [m["content"].get("body") or m["content"].get("text", "") for m in steps[0].messages]

    welcome = "Hi Ana! Welcome to Pizza Place \U0001f355"
    menu = [welcome, "What would you like to do?"]
    for opening in ("order", "Order?", "order a pizza"):
        assert await first(opening) == [welcome, "Which pizza would you like?"], opening
    hours = await first("Opening hours!")
    assert hours[0] == welcome and hours[1].startswith("We are open") and hours[2] == "What would you like to do?"
    for other in ("hi", "pizza", "pizza?", "hours", "I tried to order a pizza but it never arrived",
                  "what are your opening hours?", "Can I order a pizza for tomorrow at 8pm?", "2", "a pizza"):
        assert await first(other) == menu, other
    # A hand-off keyword in a sentence hands off before any greeting.
    assert await first("a human") == ["One moment Ana, a member of our team will answer you here."]


async def test_thanks_after_an_order_gets_a_short_answer_not_the_welcome_again() -> None:
    """After the order, "thanks" or "ok" starts a new run of the demo: it answered with the welcome and the menu (and
    a second "ok" there with "Please tap one of the buttons below."). A thank-you now gets a short polite answer and
    ends; anything else still gets the welcome and the menu."""
    welcome = [None, ["Hi Ana! Welcome to Pizza Place \U0001f355", "What would you like to do?"]]
    for polite in ("thanks", "Thank you!", "thank you so much", "thanks again!", "ok", "OK, thanks", "Okay 👍", "great, thanks!",
                   "perfect", "👍", "thx", "Cheers!", "🙏", "merci", "gracias"):
        assert await first_answer(polite) == THANKED, polite
    for other in ("hi", "thanks, can I order another pizza?", "ok so what pizzas do you have", "2", "pizza",
                  "no thanks", "hello thanks", "?", "again", "menu"):
        assert await first_answer(other) == welcome, other


async def test_the_confirmation_of_a_bulk_order_states_its_discount() -> None:
    """The demo promises 10% off above 3 pizzas: the confirmation says the order has it (the flow knows no prices,
    so no amount); a small order's says nothing of a discount."""
    data = demo()
    for quantity, confirmation in (
        ("4", "Thanks Ana! Your order of 4 x Veggie with 10% off is confirmed and will be ready in 30 minutes."),
        ("3", "Thanks Ana! Your order of 3 x Veggie is confirmed and will be ready in 30 minutes."),
    ):
        steps = await test_run(
            data["nodes"], data["edges"], ["hi", "order", "veggie", quantity],
            contact=ContactInfo(name="Ana", phone="+1555"), settings=settings(), http=FakeHttp(),
        )
        assert steps[-1].ended_reason == "completed"
        assert steps[-1].messages[-1]["content"]["body"] == confirmation
        assert steps[-1].variables["order.summary"] == f"{quantity} x Veggie"
        assert steps[-1].variables.get("order.discount") == ("10%" if quantity == "4" else None)


async def test_asking_for_a_person_in_a_sentence_hands_off_from_any_step() -> None:
    """Only the exact keywords handed off ("talk to a person"); "I want to talk to a person" at the quantity question
    was a wrong answer. The demo's answers (a quantity, a pizza, words of the menu) never hand off, nor does a
    sentence that refuses a person."""
    data = demo()
    for typed in ("I want to talk to a person", "can I speak to someone please?", "I need a human",
                  "I want a human", "agent please", "hello, is there a real person there?", "a human, thanks",
                  "could I talk to an agent?"):
        steps = await as_ana(["hi", "order", "pepperoni", typed])
        assert steps[-1].ended_reason == "handoff", typed
        assert [m["content"]["body"] for m in steps[-1].messages] == [
            "One moment Ana, a member of our team will answer you here."
        ], typed
    for typed in ("2", "two please", "3 pizzas please", "pizza", "Margherita", "I don't want to talk to a person",
                  "Ana", "someone told me the veggie is vegan", "is the person delivering it on time?", "agents",
                  # Words of the keywords in what customers say about something else (found in review).
                  "thanks for the great customer service!", "great customer service, 2 please",
                  "2, can a human deliver it?", "A human? No, just 2", "I'm ordering for a representative meeting, 4"):
        steps = await as_ana(["hi", "order", "pepperoni", typed])
        assert not any(step.handoff for step in steps), typed
    # As the first message too: no greeting first.
    steps = await test_run(data["nodes"], data["edges"], ["hi, I'd like to talk to someone"], settings=settings(),
                           http=FakeHttp())
    assert steps[0].ended_reason == "handoff" and len(steps[0].messages) == 1


async def test_goodbyes_and_thanks_in_other_words_after_an_order_get_the_short_answer() -> None:
    """A customer review of the demo found these after a confirmed order answered with "Hi Ana! Welcome to Pizza
    Place" and the menu, as if the order had never been: a goodbye, thanks for the pizza, thanks in Italian or
    Portuguese, a thumbs-up of another emoji."""
    for polite in ("thanks, bye", "Thanks for the pizza!", "Bye", "see you", "great thanks, see you soon",
                   "ok see you in 30", "Thank u", "thanks guys", "merci beaucoup", "danke schön", "grazie",
                   "obrigado", "muchas gracias", "👌", "❤️", "thanks 😊", "nice, thanks!"):
        assert await first_answer(polite) == THANKED, polite
    welcome = [None, ["Hi Ana! Welcome to Pizza Place \U0001f355", "What would you like to do?"]]
    for other in ("see you at 8, can I order?", "thanks, can I order another pizza?", "bye bye pepperoni, hi veggie",
                  "thanksgiving special?", "okay so", "for the pizza", "soon"):
        assert await first_answer(other) == welcome, other


async def test_cancel_asks_whether_a_confirmed_order_is_meant_and_hands_that_to_the_team() -> None:
    """"cancel" (a restart keyword) right after a confirmed order answered "Hi Ana! Welcome to Pizza Place" and the
    menu, and "cancel my order" at that menu "Please tap one of the buttons below.": the customer's order stood and
    nobody was told. Now any cancel asks whether a confirmed order is meant: yes reaches the team, no shows the
    menu."""
    data = demo()
    for cancel in ("cancel", "Cancel my order!", "please cancel my order", "cancel the order", "cancel it"):
        steps = await as_ana([cancel, {"buttonId": "cancel_confirmed"}])
        asked = steps[0].messages
        assert [m["content"]["body"] for m in asked] == [
            "OK, nothing more will be ordered here. Do you want to cancel an order that was already confirmed?"
        ], cancel
        assert [b["title"] for b in asked[0]["content"]["buttons"]] == ["Yes, cancel it", "No, show the menu"]
        assert steps[1].ended_reason == "handoff" and [m["content"]["body"] for m in steps[1].messages] == [
            "One moment Ana, a member of our team will cancel your order and confirm it here."
        ]
    # Mid-order: "cancel my order" at the quantity question restarts (it was a wrong quantity), then "no" shows the
    # menu, which takes the next answer.
    steps = await test_run(
        data["nodes"], data["edges"], ["hi", "order", "veggie", "cancel my order", "No", "order"],
        contact=ContactInfo(name="Ana", phone="+1555"), settings=settings(), http=FakeHttp(),
    )
    assert steps[3].messages[0]["content"]["body"].startswith("OK, nothing more")
    assert steps[4].messages[0]["content"]["body"] == "What would you like to do?"
    assert steps[5].waiting_for == "list"
    # "cancel" in a sentence about something else is no cancel.
    steps = await test_run(data["nodes"], data["edges"], ["can I cancel if I'm late?"], settings=settings(),
                           http=FakeHttp())
    assert steps[0].messages[1]["content"]["body"] == "What would you like to do?"


async def test_the_quantity_question_says_how_to_change_the_pizza_or_order_more_than_ten() -> None:
    """"actually make it hawaiian", "12" or "how long?" at the quantity question got "Please send a whole number
    from 1 to 10, like 2." again and again, then "Sorry, I didn't get that" (the bot had got 12 pizzas fine): the
    retry says how to pick another pizza and how to order more than 10, and giving up does not claim it misread."""
    data = demo()
    steps = await test_run(
        data["nodes"], data["edges"], ["hi", "order", "veggie", "actually make it hawaiian", "12", "a dozen"],
        contact=ContactInfo(name="Ana", phone="+1555"), settings=settings(), http=FakeHttp(),
    )
    for step in steps[3:5]:
        assert [m["content"]["body"] for m in step.messages] == [RETRY]
    assert steps[5].ended_reason == "handoff"
    assert [m["content"]["body"] for m in steps[5].messages] == [
        "Sorry, I couldn't take your order here. A member of our team will help you with it."
    ]


async def test_more_ways_of_asking_for_a_person_hand_off() -> None:
    """Found by playing customers: "live agent" and "I want to talk to a real human" at the quantity question were
    wrong quantities (the demo's keywords were 20 already: "an agent" and "customer support", rarely written alone,
    made room)."""
    for typed in ("live agent", "Live agent please", "I want to talk to a real human", "is there a real human?"):
        steps = await as_ana(["hi", "order", "pepperoni", typed])
        assert steps[-1].ended_reason == "handoff", typed
    for typed in ("is the delivery live?", "2 for our live agent training", "a human, no, 2"):
        steps = await as_ana(["hi", "order", "pepperoni", typed])
        assert not any(step.handoff for step in steps), typed
