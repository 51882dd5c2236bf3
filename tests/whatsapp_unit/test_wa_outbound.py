"""Outbound messages: every type, every limit (at it and just over), and the exact Graph API bodies."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from whatsapp_builder.whatsapp.outbound import (
    OutboundValidationError,
    is_template,
    parse_outbound,
    reaction_target,
    to_graph_payload,
)


def fields_of(obj: Any) -> list[str]:
    with pytest.raises(OutboundValidationError) as info:
        parse_outbound(obj)
    return [d["field"] for d in info.value.details]


def ok(obj: Any) -> Any:
    return parse_outbound(obj)


def buttons(n: int, title: str = "t", ids: list[str] | None = None) -> list[dict[str, str]]:
    ids = ids or [f"b{i}" for i in range(n)]
    return [{"id": ids[i], "title": title} for i in range(n)]


def btn_msg(**content: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"kind": "buttons", "body": "Pick", "buttons": buttons(2)}
    return {"type": "interactive", "content": base | content}


def list_msg(**content: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "list",
        "body": "Menu",
        "button": "Open",
        "sections": [{"rows": [{"id": "r1", "title": "One"}]}],
    }
    return {"type": "interactive", "content": base | content}


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"id": f"r{start + i}", "title": f"Row {start + i}"} for i in range(n)]


# ------------------------------------------------------------------------------------------- text


def test_text_limits() -> None:
    ok({"type": "text", "content": {"body": "x" * 4096}})
    assert fields_of({"type": "text", "content": {"body": "x" * 4097}}) == ["content.body"]
    assert fields_of({"type": "text", "content": {"body": ""}}) == ["content.body"]
    assert fields_of({"type": "text", "content": {}}) == ["content.body"]
    assert fields_of({"type": "text", "content": {"body": "x", "colour": "red"}}) == ["content.colour"]
    assert fields_of({"type": "text", "content": {"body": 5}}) == ["content.body"]


def test_envelope_errors() -> None:
    assert fields_of("text") == [""]
    assert fields_of({"content": {"body": "x"}}) == ["type"]
    assert fields_of({"type": "fax", "content": {}}) == ["type"]
    assert fields_of({"type": "text"}) == ["content"]
    assert fields_of({"type": "text", "content": {"body": "x"}, "extra": 1}) == ["extra"]


def test_text_graph_payload() -> None:
    msg = ok({"type": "text", "content": {"body": "Hi", "previewUrl": True}})
    assert to_graph_payload(msg, to="+1 (650) 555-1234", reply_to="wamid.Q") == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Hi", "preview_url": True},
        "context": {"message_id": "wamid.Q"},
    }
    assert msg.as_json() == {"type": "text", "content": {"body": "Hi", "previewUrl": True}}


def test_recipient_bsuid_and_missing_recipient() -> None:
    msg = ok({"type": "text", "content": {"body": "Hi"}})
    payload = to_graph_payload(msg, recipient="US.13491208655302741918")
    assert payload["recipient"] == "US.13491208655302741918"
    assert "to" not in payload
    with pytest.raises(ValueError):
        to_graph_payload(msg)
    with pytest.raises(ValueError):
        to_graph_payload(msg, to="abc")


# ------------------------------------------------------------------------------------------ media


@pytest.mark.parametrize("kind", ["image", "video", "audio", "document", "sticker"])
def test_media_source_rules(kind: str) -> None:
    ok({"type": kind, "content": {"url": "https://cdn.example.com/f"}})
    ok({"type": kind, "content": {"id": "12345"}})
    assert fields_of({"type": kind, "content": {}}) == ["content"]
    assert fields_of({"type": kind, "content": {"url": "https://x/y", "id": "1"}}) == ["content"]
    assert fields_of({"type": kind, "content": {"url": "ftp://x/y"}}) == ["content.url"]
    assert fields_of({"type": kind, "content": {"url": "not a url"}}) == ["content.url"]
    # What WhatsApp could never fetch is refused here rather than by a failed send.
    assert fields_of({"type": kind, "content": {"url": "https://x/y\u0001"}}) == ["content.url"]
    assert fields_of({"type": kind, "content": {"url": "https://x/" + "y" * 3000}}) == ["content.url"]
    assert fields_of({"type": kind, "content": {"id": "1" * 300}}) == ["content.id"]
    ok({"type": kind, "content": {"url": "https://cdn.example.com/a b.png"}})  # a client may encode the space
    ok({"type": kind, "content": {"url": "https://cdn.example.com/\u00adx\ufeff.png"}})  # format characters
    assert fields_of({"type": kind, "content": {"url": "https://x/y\u2028z"}}) == ["content.url"]


@pytest.mark.parametrize("kind", ["image", "video", "document"])
def test_caption_limit(kind: str) -> None:
    ok({"type": kind, "content": {"id": "1", "caption": "c" * 1024}})
    assert fields_of({"type": kind, "content": {"id": "1", "caption": "c" * 1025}}) == ["content.caption"]


@pytest.mark.parametrize("kind", ["audio", "sticker"])
def test_caption_not_allowed(kind: str) -> None:
    assert fields_of({"type": kind, "content": {"id": "1", "caption": "c"}}) == ["content.caption"]


@pytest.mark.parametrize("kind", ["image", "video", "audio", "sticker"])
def test_filename_only_for_documents(kind: str) -> None:
    assert fields_of({"type": kind, "content": {"id": "1", "filename": "a.pdf"}}) == ["content.filename"]


def test_media_graph_payloads() -> None:
    doc = ok({"type": "document", "content": {"url": "https://x/a.pdf", "caption": "c", "filename": "a.pdf"}})
    assert to_graph_payload(doc, to="1555")["document"] == {
        "link": "https://x/a.pdf",
        "caption": "c",
        "filename": "a.pdf",
    }
    audio = ok({"type": "audio", "content": {"id": "99"}})
    payload = to_graph_payload(audio, to="1555")
    assert payload["type"] == "audio" and payload["audio"] == {"id": "99"}


# ---------------------------------------------------------------------------------------- buttons


def test_button_limits() -> None:
    ok(btn_msg(buttons=buttons(3)))
    ok(btn_msg(buttons=buttons(1, title="t" * 20)))
    ok(btn_msg(buttons=[{"id": "i" * 256, "title": "t"}]))
    ok(btn_msg(body="b" * 1024, header="h" * 60, footer="f" * 60))
    assert fields_of(btn_msg(buttons=buttons(4))) == ["content.buttons"]
    assert fields_of(btn_msg(buttons=[])) == ["content.buttons"]
    assert fields_of(btn_msg(buttons=[*buttons(3)[:2], {"id": "x", "title": "t" * 21}])) == ["content.buttons.2.title"]
    assert fields_of(btn_msg(buttons=[{"id": "i" * 257, "title": "t"}])) == ["content.buttons.0.id"]
    assert fields_of(btn_msg(buttons=[{"id": "", "title": "t"}])) == ["content.buttons.0.id"]
    assert fields_of(btn_msg(buttons=buttons(2, ids=["same", "same"]))) == ["content.buttons"]
    assert fields_of(btn_msg(body="b" * 1025)) == ["content.body"]
    assert fields_of(btn_msg(header="h" * 61)) == ["content.header"]
    assert fields_of(btn_msg(footer="f" * 61)) == ["content.footer"]
    assert fields_of({"type": "interactive", "content": {"body": "x"}}) == ["content.kind"]
    assert fields_of({"type": "interactive", "content": {"kind": "carousel"}}) == ["content.kind"]


def test_buttons_graph_payload() -> None:
    msg = ok(btn_msg(header="Head", footer="Foot", buttons=buttons(2)))
    assert to_graph_payload(msg, to="1555")["interactive"] == {
        "type": "button",
        "body": {"text": "Pick"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "b0", "title": "t"}},
                {"type": "reply", "reply": {"id": "b1", "title": "t"}},
            ]
        },
        "header": {"type": "text", "text": "Head"},
        "footer": {"text": "Foot"},
    }
    assert not is_template(msg)


# ------------------------------------------------------------------------------------------- list


def test_list_limits() -> None:
    ok(list_msg(sections=[{"rows": rows(10)}]))
    ok(list_msg(sections=[{"title": f"S{i}", "rows": rows(1, i)} for i in range(10)]))
    ok(list_msg(body="b" * 4096, button="B" * 20, header="h" * 60, footer="f" * 60))
    ok(
        list_msg(
            sections=[{"title": "s" * 24, "rows": [{"id": "i" * 200, "title": "t" * 24, "description": "d" * 72}]}]
        )
    )
    assert fields_of(list_msg(sections=[{"rows": rows(11)}])) == ["content.sections.0.rows"]
    assert fields_of(list_msg(sections=[{"title": "A", "rows": rows(6)}, {"title": "B", "rows": rows(5, 6)}])) == [
        "content.sections"
    ]
    eleven = [{"title": f"S{i}", "rows": rows(1, i)} for i in range(11)]
    assert fields_of(list_msg(sections=eleven)) == ["content.sections"]
    assert fields_of(list_msg(sections=[])) == ["content.sections"]
    assert fields_of(list_msg(sections=[{"rows": rows(1)}, {"rows": rows(1, 1)}])) == ["content.sections"]
    dup = [{"title": "A", "rows": rows(1)}, {"title": "B", "rows": rows(1)}]
    assert fields_of(list_msg(sections=dup)) == ["content.sections"]
    long_row = [{"title": "s", "rows": [{"id": "i" * 201, "title": "t" * 25, "description": "d" * 73}]}]
    assert fields_of(list_msg(sections=long_row)) == [
        "content.sections.0.rows.0.id",
        "content.sections.0.rows.0.title",
        "content.sections.0.rows.0.description",
    ]
    assert fields_of(list_msg(sections=[{"title": "s" * 25, "rows": rows(1)}])) == ["content.sections.0.title"]
    assert fields_of(list_msg(body="b" * 4097)) == ["content.body"]
    assert fields_of(list_msg(button="B" * 21)) == ["content.button"]
    assert fields_of(list_msg(button="")) == ["content.button"]
    assert fields_of(list_msg(header="h" * 61, footer="f" * 61)) == ["content.header", "content.footer"]


def test_list_graph_payload() -> None:
    msg = ok(
        list_msg(
            sections=[
                {"title": "Food", "rows": [{"id": "p", "title": "Pizza", "description": "Cheesy"}]},
                {"title": "Drinks", "rows": [{"id": "c", "title": "Cola"}]},
            ]
        )
    )
    assert to_graph_payload(msg, to="1555")["interactive"] == {
        "type": "list",
        "body": {"text": "Menu"},
        "action": {
            "button": "Open",
            "sections": [
                {"title": "Food", "rows": [{"id": "p", "title": "Pizza", "description": "Cheesy"}]},
                {"title": "Drinks", "rows": [{"id": "c", "title": "Cola"}]},
            ],
        },
    }


# ---------------------------------------------------------------------- template, reaction, location


def test_template() -> None:
    msg = ok(
        {"type": "template", "content": {"name": "order_update", "language": "en_US", "bodyParameters": ["A", "7"]}}
    )
    assert is_template(msg)
    assert to_graph_payload(msg, to="1555")["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A"}, {"type": "text", "text": "7"}]}],
    }
    header = {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/i.png"}}]}
    msg2 = ok({"type": "template", "content": {"name": "n", "language": "en", "components": [header]}})
    assert to_graph_payload(msg2, to="1555")["template"]["components"] == [header]
    plain = ok({"type": "template", "content": {"name": "hello_world", "language": "en_US"}})
    assert "components" not in to_graph_payload(plain, to="1555")["template"]
    assert fields_of({"type": "template", "content": {"language": "en"}}) == ["content.name"]
    assert fields_of({"type": "template", "content": {"name": "n"}}) == ["content.language"]
    both = {
        "name": "n",
        "language": "en",
        "components": [{"type": "body", "parameters": []}],
        "bodyParameters": ["x"],
    }
    assert fields_of({"type": "template", "content": both}) == ["content"]
    for code in ("en", "fil", "pt_BR", "zh_HK"):
        ok({"type": "template", "content": {"name": "n", "language": code}})
    for bad_name in ("order update!", "Order_Update", "order-update"):
        assert fields_of({"type": "template", "content": {"name": bad_name, "language": "en"}}) == ["content.name"]
    for code in ("english", "EN", "en-US", "en_US ", "12"):
        assert fields_of({"type": "template", "content": {"name": "n", "language": code}}) == ["content.language"]
    # WhatsApp's limits for a body's text parameter: 32,768 characters, 1,024 beside other components
    ok({"type": "template", "content": {"name": "n", "language": "en", "bodyParameters": ["x" * 32_768]}})
    too_long = {"name": "n", "language": "en", "bodyParameters": ["ok", "x" * 32_769]}
    assert fields_of({"type": "template", "content": too_long}) == ["content"]
    with_header = {"name": "n", "language": "en", "components": [header], "bodyParameters": ["x" * 1025]}
    assert fields_of({"type": "template", "content": with_header}) == ["content"]
    ok({"type": "template", "content": with_header | {"bodyParameters": ["x" * 1024]}})


def test_template_components_that_could_not_be_sent_as_given_are_refused() -> None:
    # 300 levels deep was a 500 (not serializable); NaN was stored and sent as null.
    deep: object = []
    for _ in range(300):
        deep = [deep]
    for components in ([{"type": "body", "x": deep}], [{"type": "body", "x": float("nan")}],
                       [{"type": "body", "x": float("inf")}], [{"type": "body", "x": "a\u0000b"}]):
        assert fields_of({"type": "template", "content": {"name": "n", "language": "en",
                                                          "components": components}}) == ["content.components"]


def test_reaction() -> None:
    msg = ok({"type": "reaction", "content": {"messageId": "wamid.X", "emoji": "\U0001f600"}})
    assert to_graph_payload(msg, to="1555")["reaction"] == {"message_id": "wamid.X", "emoji": "\U0001f600"}
    removal = ok({"type": "reaction", "content": {"messageId": "wamid.X", "emoji": ""}})
    assert to_graph_payload(removal, to="1555")["reaction"]["emoji"] == ""
    assert fields_of({"type": "reaction", "content": {"emoji": "x"}}) == ["content.messageId", "content.emoji"]
    for emoji in ("\U0001f44d\U0001f3fd", "\u2764\ufe0f", "1\ufe0f\u20e3", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
                  "\U0001f1e7\U0001f1f7", "\u203c\ufe0f", "\U0001fae8",
                  "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "#\ufe0f\u20e3", "\u303d\ufe0f",
                  "\u2194\ufe0f", "\u00a9\ufe0f", "\u2139\ufe0f", "\u2139"):  # ℹ️ is a letter to Unicode
        ok({"type": "reaction", "content": {"messageId": "wamid.X", "emoji": emoji}})
    for emoji in ("NaN", "ok", "1", " ", "\U0001f600 ", "\n", "\U0001f44d\U0001f44d", "a\U0001f600", "\u0301", "\u20e3",
                  # Accepted once (found by fuzzing): joiners, a private-use character, a skin tone alone, ASCII signs.
                  "\u200d", "\u200d\u200d\u200d", "#", "+", "\ue000", "\U0001f3fb", "\ufe0f"):
        assert fields_of({"type": "reaction", "content": {"messageId": "wamid.X", "emoji": emoji}}) == ["content.emoji"]


def test_a_reaction_to_our_message_id_is_sent_with_its_whatsapp_id() -> None:
    ours = "0193a2f4-6b1e-7c3d-9a51-2f0e8b7c4d10"
    msg = ok({"type": "reaction", "content": {"messageId": ours, "emoji": "\U0001f44d"}})
    assert reaction_target(msg) == uuid.UUID(ours)
    payload = to_graph_payload(msg, to="1555", reaction_to="wamid.CUSTOMER")
    assert payload["reaction"] == {"message_id": "wamid.CUSTOMER", "emoji": "\U0001f44d"}
    with pytest.raises(ValueError, match="WhatsApp id"):
        to_graph_payload(msg, to="1555")  # never our id to WhatsApp
    assert msg.as_json()["content"]["messageId"] == ours  # stored as given
    wamid = ok({"type": "reaction", "content": {"messageId": "wamid.X", "emoji": "\U0001f44d"}})
    assert reaction_target(wamid) is None
    assert to_graph_payload(wamid, to="1555")["reaction"]["message_id"] == "wamid.X"


def test_location() -> None:
    for lat, lon in ((90, 180), (-90, -180), (0.5, 10)):
        ok({"type": "location", "content": {"latitude": lat, "longitude": lon}})
    assert fields_of({"type": "location", "content": {"latitude": 90.001, "longitude": 0}}) == ["content.latitude"]
    assert fields_of({"type": "location", "content": {"latitude": 0, "longitude": -180.5}}) == ["content.longitude"]
    msg = ok({"type": "location", "content": {"latitude": 1.5, "longitude": 2, "name": "HQ", "address": "Main St"}})
    assert to_graph_payload(msg, to="1555")["location"] == {
        "latitude": 1.5,
        "longitude": 2.0,
        "name": "HQ",
        "address": "Main St",
    }


def test_error_message_is_readable() -> None:
    with pytest.raises(OutboundValidationError) as info:
        parse_outbound(btn_msg(buttons=[*buttons(3)[:2], {"id": "x", "title": "t" * 21}]))
    assert info.value.details == [
        {"field": "content.buttons.2.title", "message": "String should have at most 20 characters"}
    ]
    assert "content.buttons.2.title" in str(info.value)


def test_a_stored_reaction_whose_message_has_no_whatsapp_id_fails_before_the_call() -> None:
    from whatsapp_builder.whatsapp.delivery import CannotSend, graph_payload

    content = {"messageId": "0193a2f4-6b1e-7c3d-9a51-2f0e8b7c4d10", "emoji": "\U0001f44d"}
    with pytest.raises(CannotSend) as info:
        graph_payload("reaction", content, phone="+1555", bsuid=None, reacted_wamid=None)
    assert info.value.error["source"] == "local" and "WhatsApp id" in info.value.error["title"]
    sent = graph_payload("reaction", content, phone="+1555", bsuid=None, reacted_wamid="wamid.Y")
    assert sent["reaction"] == {"message_id": "wamid.Y", "emoji": "\U0001f44d"} and sent["to"] == "1555"


def test_booleans_are_booleans_and_titles_are_not_blank() -> None:
    for value in ("yes", 0, 1, "false"):
        assert fields_of({"type": "text", "content": {"body": "hi", "previewUrl": value}}) == ["content.previewUrl"]
    assert ok({"type": "text", "content": {"body": "hi", "previewUrl": True}}).content.preview_url is True
    assert fields_of(btn_msg(buttons=[{"id": "a", "title": "   "}])) == ["content.buttons.0.title"]
    blank_row = {"sections": [{"rows": [{"id": "r", "title": " \t"}]}]}
    assert fields_of(list_msg(**blank_row)) == ["content.sections.0.rows.0.title"]
