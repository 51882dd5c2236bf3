from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp_builder.flows import FlowInput


def test_text_message() -> None:
    assert FlowInput.from_message("text", {"body": "hello"}) == FlowInput(kind="text", text="hello")


def test_interactive_button_reply() -> None:
    result = FlowInput.from_message("interactive", {"buttonId": "b1", "title": "Yes"})
    assert result == FlowInput(kind="button", text="Yes", button_id="b1")


def test_interactive_list_reply() -> None:
    result = FlowInput.from_message("interactive", {"listRowId": "r1", "title": "Row", "description": "d"})
    assert result == FlowInput(kind="list", text="Row", list_row_id="r1")


def test_template_quick_reply_is_a_button() -> None:
    result = FlowInput.from_message("button", {"buttonId": "p1", "title": "Stop"})
    assert result == FlowInput(kind="button", text="Stop", button_id="p1")


def test_media_caption_becomes_text() -> None:
    result = FlowInput.from_message("image", {"id": "m1", "mimeType": "image/jpeg", "caption": "look"})
    assert result == FlowInput(kind="media", text="look")
    assert FlowInput.from_message("sticker", {"id": "m2", "mimeType": "image/webp"}).text is None


def test_other_kinds() -> None:
    assert FlowInput.from_message("location", {"latitude": 1}).kind == "other"
    assert FlowInput.from_message("text", None).kind == "text"
    assert FlowInput.from_message("text", {"body": 5}).text == "5"
    assert FlowInput.from_message("interactive", {}).kind == "other"


def test_from_test_input_forms() -> None:
    assert FlowInput.from_test_input("hi") == FlowInput(kind="text", text="hi")
    assert FlowInput.from_test_input({"buttonId": "b"}) == FlowInput(kind="button", button_id="b")
    assert FlowInput.from_test_input({"listRowId": "r", "title": "R"}) == FlowInput(
        kind="list", text="R", list_row_id="r"
    )
    assert FlowInput.from_test_input({"text": "x"}) == FlowInput(kind="text", text="x")
    assert FlowInput.from_test_input({"timer": True}).kind == "timer"
    same = FlowInput(kind="media", text="c")
    assert FlowInput.from_test_input(same) is same
    assert FlowInput.from_test_input(42).kind == "other"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(database=None)
@given(
    st.one_of(st.sampled_from(["text", "interactive", "button", "image", "video", "x"]), st.text(max_size=10)),
    st.one_of(json_values, st.dictionaries(st.sampled_from(["body", "buttonId", "listRowId", "title"]), json_values)),
)
def test_from_message_never_raises(message_type: str, content: Any) -> None:
    result = FlowInput.from_message(message_type, content)
    assert result.kind in {"text", "button", "list", "media", "other"}
    assert result.text is None or isinstance(result.text, str)


@settings(database=None)
@given(json_values)
def test_from_test_input_never_raises(value: Any) -> None:
    FlowInput.from_test_input(value)
