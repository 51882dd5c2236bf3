"""parse_webhook against payloads shaped as Meta documents them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from whatsapp_builder.whatsapp.parser import parse_webhook

PNID = "106540352242922"
DISPLAY = "15550783881"
TS = "1750000000"


def envelope(*values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PNID},
                            **value,
                        },
                        "field": "messages",
                    }
                    for value in values
                ],
            }
            for _ in range(entries)
        ],
    }


def contact(wa_id: str | None = "16505551234", user_id: str | None = "US.13491208655302741918") -> dict[str, Any]:
    c: dict[str, Any] = {"profile": {"name": "Sheena Nelson"}}
    if wa_id:
        c["wa_id"] = wa_id
    if user_id:
        c["user_id"] = user_id
    return c


def inbound(part: dict[str, Any], wamid: str = "wamid.ID1", **extra: Any) -> dict[str, Any]:
    msg = {"from": "16505551234", "id": wamid, "timestamp": TS, **part, **extra}
    return envelope({"contacts": [contact()], "messages": [msg]})


def only_message(payload: dict[str, Any]) -> Any:
    batch = parse_webhook(payload)
    assert batch.is_whatsapp_payload
    assert batch.problems == []
    assert len(batch.messages) == 1
    return batch.messages[0]


def test_text_message_fields() -> None:
    m = only_message(inbound({"type": "text", "text": {"body": "Hello"}}))
    assert m.phone_number_id == PNID
    assert m.display_phone_number == DISPLAY
    assert m.wa_message_id == "wamid.ID1"
    assert m.from_phone == "16505551234"
    assert m.from_user_id == "US.13491208655302741918"
    assert m.contact_name == "Sheena Nelson"
    assert m.contact_username is None
    assert m.timestamp == datetime.fromtimestamp(1750000000, tz=UTC)
    assert (m.type, m.content) == ("text", {"body": "Hello"})
    assert m.raw["text"] == {"body": "Hello"}


@pytest.mark.parametrize(
    ("part", "kind", "content"),
    [
        (
            {"type": "image", "image": {"caption": "pic", "mime_type": "image/jpeg", "sha256": "abc", "id": "1"}},
            "image",
            {"id": "1", "mimeType": "image/jpeg", "sha256": "abc", "caption": "pic"},
        ),
        (
            {"type": "video", "video": {"mime_type": "video/mp4", "sha256": "s", "id": "2"}},
            "video",
            {"id": "2", "mimeType": "video/mp4", "sha256": "s"},
        ),
        (
            {
                "type": "audio",
                "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "s", "id": "3", "voice": True},
            },
            "audio",
            {"id": "3", "mimeType": "audio/ogg; codecs=opus", "sha256": "s", "voice": True},
        ),
        (
            {
                "type": "document",
                "document": {
                    "caption": "c",
                    "filename": "invoice.pdf",
                    "mime_type": "application/pdf",
                    "sha256": "s",
                    "id": "4",
                },
            },
            "document",
            {"id": "4", "mimeType": "application/pdf", "sha256": "s", "caption": "c", "filename": "invoice.pdf"},
        ),
        (
            {"type": "sticker", "sticker": {"mime_type": "image/webp", "sha256": "s", "id": "5", "animated": False}},
            "sticker",
            {"id": "5", "mimeType": "image/webp", "sha256": "s", "animated": False},
        ),
        (
            {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}},
            },
            "interactive",
            {"buttonId": "b1", "title": "Yes"},
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "row1", "title": "Pizza", "description": "Cheesy"},
                },
            },
            "interactive",
            {"listRowId": "row1", "title": "Pizza", "description": "Cheesy"},
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "nfm_reply",
                    "nfm_reply": {"response_json": '{"flow_token": "t", "age": 3}', "body": "Sent", "name": "flow"},
                },
            },
            "interactive",
            {"flowResponse": {"flow_token": "t", "age": 3}, "body": "Sent", "name": "flow"},
        ),
        (
            {
                "type": "interactive",
                "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "not json"}},
            },
            "interactive",
            {"flowResponse": "not json"},
        ),
        (
            {"type": "interactive", "interactive": {"type": "call_permission_reply", "call_permission_reply": {}}},
            "unsupported",
            {"originalType": "interactive", "interactiveType": "call_permission_reply", "errors": []},
        ),
        (
            {"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}},
            "button",
            {"buttonId": "STOP", "title": "Stop promotions"},
        ),
        (
            {"type": "button", "button": {"text": "Yes"}},
            "button",
            {"buttonId": "Yes", "title": "Yes"},
        ),
        (
            {"type": "button", "button": {"payload": "YES_PAYLOAD"}},
            "button",
            {"buttonId": "YES_PAYLOAD", "title": "YES_PAYLOAD"},
        ),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.OUT", "emoji": "\U0001f44d"}},
            "reaction",
            {"messageId": "wamid.OUT", "emoji": "\U0001f44d"},
        ),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.OUT"}},
            "reaction",
            {"messageId": "wamid.OUT", "emoji": None},
        ),
        (
            {
                "type": "location",
                "location": {"address": "1 Hacker Way", "latitude": 37.48, "longitude": -122.14, "name": "HQ"},
            },
            "location",
            {"latitude": 37.48, "longitude": -122.14, "name": "HQ", "address": "1 Hacker Way"},
        ),
        (
            {
                "type": "contacts",
                "contacts": [{"name": {"formatted_name": "Bob"}, "phones": [{"phone": "+1 555", "type": "CELL"}]}],
            },
            "contacts",
            {"contacts": [{"name": {"formatted_name": "Bob"}, "phones": [{"phone": "+1 555", "type": "CELL"}]}]},
        ),
        (
            {
                "type": "order",
                "order": {
                    "catalog_id": "cat1",
                    "text": "please",
                    "product_items": [
                        {"product_retailer_id": "sku", "quantity": "2", "item_price": "10", "currency": "USD"}
                    ],
                },
            },
            "order",
            {
                "catalogId": "cat1",
                "productItems": [
                    {"product_retailer_id": "sku", "quantity": "2", "item_price": "10", "currency": "USD"}
                ],
                "text": "please",
            },
        ),
        (
            {
                "type": "system",
                "system": {
                    "body": "User A changed from 1 to 2",
                    "wa_id": "2",
                    "type": "user_changed_number",
                },
            },
            "system",
            {"body": "User A changed from 1 to 2", "kind": "user_changed_number", "waId": "2"},
        ),
        ({"type": "request_welcome"}, "system", {"kind": "request_welcome"}),
        (
            {
                "type": "unsupported",
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            },
            "unsupported",
            {
                "originalType": "unsupported",
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "details": "Message type is currently not supported.",
                    }
                ],
            },
        ),
        (
            {"type": "unsupported", "unsupported": {"type": "edit"}, "errors": []},
            "unsupported",
            {"originalType": "edit", "errors": []},
        ),
        ({"type": "hologram", "hologram": {}}, "unsupported", {"originalType": "hologram", "errors": []}),
        # Numbers shared with the WhatsApp Business app: the customer deleted or edited a message.
        (
            {"type": "revoke", "revoke": {"original_message_id": "wamid.ORIG"}},
            "system",
            {"kind": "revoke", "originalMessageId": "wamid.ORIG"},
        ),
        (
            {
                "type": "edit",
                "edit": {
                    "original_message_id": "wamid.ORIG",
                    "message": {"context": {"id": "wamid.Q"}, "type": "text", "text": {"body": "3 please"}},
                },
            },
            "system",
            {
                "kind": "edit",
                "originalMessageId": "wamid.ORIG",
                "message": {"type": "text", "content": {"body": "3 please", "replyTo": "wamid.Q"}},
            },
        ),
        (
            {"type": "edit", "edit": {"original_message_id": "wamid.ORIG", "message": "not an object"}},
            "system",
            {"kind": "edit", "originalMessageId": "wamid.ORIG"},
        ),
    ],
)
def test_message_kinds(part: dict[str, Any], kind: str, content: dict[str, Any]) -> None:
    m = only_message(inbound(part))
    assert m.type == kind
    assert m.content == content
    assert m.raw["type"] == part["type"]


def test_context_and_referral() -> None:
    referral = {
        "source_url": "https://fb.me/x",
        "source_id": "ad1",
        "source_type": "ad",
        "headline": "Buy",
        "body": "Now",
        "ctwa_clid": "clid",
    }
    m = only_message(
        inbound(
            {"type": "text", "text": {"body": "Re"}},
            context={"from": DISPLAY, "id": "wamid.EARLIER"},
            referral=referral,
        )
    )
    assert m.content == {"body": "Re", "replyTo": "wamid.EARLIER", "referral": referral}


def test_bsuid_only_contact_without_phone() -> None:
    payload = envelope(
        {
            "contacts": [{"profile": {"name": "Jo", "username": "@jo"}, "user_id": "BR.1502576394655843"}],
            "messages": [
                {
                    "from_user_id": "BR.1502576394655843",
                    "id": "wamid.B1",
                    "timestamp": TS,
                    "type": "text",
                    "text": {"body": "oi"},
                }
            ],
        }
    )
    m = only_message(payload)
    assert m.from_phone is None
    assert m.from_user_id == "BR.1502576394655843"
    assert m.contact_name == "Jo"
    assert m.contact_username == "@jo"


def test_contacts_matched_per_message_in_a_batch() -> None:
    value = {
        "contacts": [contact("111", "US.1"), contact("222", "US.2") | {"profile": {"name": "Two"}}],
        "messages": [
            {"from": "222", "id": "wamid.2", "timestamp": TS, "type": "text", "text": {"body": "b"}},
            {"from": "111", "id": "wamid.1", "timestamp": TS, "type": "text", "text": {"body": "a"}},
        ],
    }
    batch = parse_webhook(envelope(value))
    assert [(m.wa_message_id, m.from_user_id, m.contact_name) for m in batch.messages] == [
        ("wamid.2", "US.2", "Two"),
        ("wamid.1", "US.1", "Sheena Nelson"),
    ]


def test_batch_of_entries_changes_messages_and_statuses() -> None:
    msgs = {
        "contacts": [contact()],
        "messages": [
            {"from": "16505551234", "id": f"wamid.M{i}", "timestamp": TS, "type": "text", "text": {"body": str(i)}}
            for i in range(3)
        ],
    }
    statuses = {
        "statuses": [
            {
                "id": "wamid.OUT1",
                "status": "delivered",
                "timestamp": TS,
                "recipient_id": "16505551234",
                "recipient_user_id": "US.13491208655302741918",
                "conversation": {"id": "c1", "origin": {"type": "service"}},
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
            },
            {"id": "wamid.OUT2", "status": "read", "timestamp": TS, "recipient_id": "16505551234"},
        ]
    }
    payload = envelope(msgs, statuses, entries=2)
    batch = parse_webhook(payload)
    assert batch.problems == []
    assert len(batch.messages) == 6
    assert len(batch.statuses) == 4
    s = batch.statuses[0]
    assert (s.wa_message_id, s.status, s.recipient_id, s.recipient_user_id, s.errors) == (
        "wamid.OUT1",
        "delivered",
        "16505551234",
        "US.13491208655302741918",
        [],
    )
    assert batch.statuses[1].recipient_user_id is None


def test_failed_status_with_errors_and_no_pricing() -> None:
    payload = envelope(
        {
            "statuses": [
                {
                    "id": "wamid.F",
                    "status": "failed",
                    "timestamp": TS,
                    "recipient_id": "16505551234",
                    "errors": [
                        {
                            "code": 131047,
                            "title": "Re-engagement message",
                            "message": "Re-engagement message",
                            "error_data": {"details": "More than 24 hours have passed."},
                            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                        }
                    ],
                }
            ]
        }
    )
    batch = parse_webhook(payload)
    assert batch.problems == []
    (s,) = batch.statuses
    assert s.status == "failed"
    assert s.errors == [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "details": "More than 24 hours have passed.",
        }
    ]


def test_change_level_errors() -> None:
    payload = envelope(
        {
            "errors": [
                {
                    "code": 131000,
                    "title": "Something went wrong",
                    "message": "Something went wrong",
                    "error_data": {"details": "oops"},
                }
            ]
        }
    )
    batch = parse_webhook(payload)
    (e,) = batch.errors
    assert (e.phone_number_id, e.code, e.title, e.message, e.details) == (
        PNID,
        131000,
        "Something went wrong",
        "Something went wrong",
        "oops",
    )


def test_malformed_pieces_become_problems_and_the_rest_survives() -> None:
    value = {
        "contacts": [contact()],
        "messages": [
            {"from": "16505551234", "timestamp": TS, "type": "text", "text": {"body": "no id"}},
            {"id": "wamid.NOSENDER", "timestamp": TS, "type": "text", "text": {"body": "x"}},
            "junk",
            {"from": "16505551234", "id": "wamid.OK", "timestamp": "bad", "type": "text", "text": {"body": "ok"}},
            {"from": "16505551234", "id": "wamid.BROKEN", "timestamp": TS, "type": "text", "text": "str"},
        ],
        "statuses": [{"status": "sent"}, {"id": "wamid.S", "status": "sent", "timestamp": TS}],
    }
    # one contact, one message without sender: the single contact is used as the sender
    batch = parse_webhook(envelope(value))
    ids = [m.wa_message_id for m in batch.messages]
    assert ids == ["wamid.NOSENDER", "wamid.OK", "wamid.BROKEN"]
    assert batch.messages[2].type == "unsupported"
    assert abs((batch.messages[1].timestamp - datetime.now(tz=UTC)).total_seconds()) < 60
    assert [s.wa_message_id for s in batch.statuses] == ["wamid.S"]
    paths = [p.path for p in batch.problems]
    assert "entry[0].changes[0].value.messages[0]" in paths
    assert "entry[0].changes[0].value.messages[2]" in paths
    assert "entry[0].changes[0].value.messages[4]" in paths
    assert "entry[0].changes[0].value.statuses[0]" in paths


def test_lists_that_are_not_lists_and_unknown_statuses_are_problems() -> None:
    """Each skipped piece is reported (and so logged), not silently nothing."""
    value = {"contacts": "x", "messages": {"id": "wamid.X"}, "statuses": [
        {"id": "wamid.S1", "status": "bogus", "timestamp": TS}, {"id": "wamid.S2", "status": "pending", "timestamp": TS},
        {"id": "wamid.S3", "status": "read", "timestamp": TS}]}
    batch = parse_webhook(envelope(value))
    assert [s.wa_message_id for s in batch.statuses] == ["wamid.S3"]
    paths = {p.path for p in batch.problems}
    assert {"entry[0].changes[0].value.contacts", "entry[0].changes[0].value.messages",
            "entry[0].changes[0].value.statuses[0].status", "entry[0].changes[0].value.statuses[1].status"} <= paths
    broken = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": "x"}]}
    assert [p.path for p in parse_webhook(broken).problems] == ["entry[0].changes"]
    fieldless = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"value": value}]}]}
    assert [p.path for p in parse_webhook(fieldless).problems] == ["entry[0].changes[0].field"]
    other = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "account_update", "value": {}}]}]}
    assert parse_webhook(other).problems == []  # another subscription: not ours, not a problem


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image", "image": {"mime_type": "image/jpeg"}},
        {"type": "document", "document": {"id": 42.5, "filename": "a.pdf"}},
        {"type": "location", "location": {"latitude": "north", "longitude": 2.35}},
        {"type": "location", "location": {"latitude": 48.85}},
        {"type": "location", "location": {"latitude": 91, "longitude": 2.35}},
        {"type": "reaction", "reaction": {"message_id": "wamid.A", "emoji": {"x": 1}}},
        {"type": "reaction", "reaction": {"emoji": "👍"}},
        {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"title": "Yes"}}},
        {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": None, "title": "A"}}},
        {"type": "button", "button": {}},
        {"type": "revoke", "revoke": {}},
        {"type": "edit", "edit": {"message": {"type": "text", "text": {"body": "x"}}}},
    ],
)
def test_a_known_kind_without_what_makes_it_that_kind_is_kept_as_unsupported(part: dict[str, Any]) -> None:
    batch = parse_webhook(inbound(part))
    assert [m.wa_message_id for m in batch.messages] == ["wamid.ID1"]
    message = batch.messages[0]
    assert message.type == "unsupported" and message.content["originalType"] == part["type"]
    assert [p.path for p in batch.problems] == ["entry[0].changes[0].value.messages[0]"]


def test_a_removed_reaction_is_still_a_reaction() -> None:
    for reaction in ({"message_id": "wamid.A"}, {"message_id": "wamid.A", "emoji": ""}):
        message = only_message(inbound({"type": "reaction", "reaction": reaction}))
        assert (message.type, message.content) == ("reaction", {"messageId": "wamid.A", "emoji": None})


def test_message_without_sender_and_no_contacts_is_a_problem() -> None:
    payload = envelope({"messages": [{"id": "wamid.X", "type": "text", "text": {"body": "x"}}]})
    batch = parse_webhook(payload)
    assert batch.messages == []
    assert batch.problems[0].path == "entry[0].changes[0].value.messages[0]"


def test_a_message_whose_id_is_blank_is_a_problem() -> None:
    for wamid in ("", "   ", "\t"):
        item = {"from": "15551234567", "id": wamid, "type": "text", "text": {"body": "x"}}
        batch = parse_webhook(envelope({"messages": [item]}))
        assert batch.messages == [] and batch.problems[0].message == "message without an id", repr(wamid)


def test_not_whatsapp_and_other_fields() -> None:
    assert parse_webhook({"object": "page", "entry": []}).is_whatsapp_payload is False
    assert parse_webhook([1, 2]).problems
    other = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "X"}}]}],
    }
    batch = parse_webhook(other)
    assert batch.is_whatsapp_payload and batch.problems == [] and batch.messages == []
    # No entry list: nothing a webhook could carry (answered 400, not "ok").
    for broken in ({"object": "whatsapp_business_account"}, {"object": "whatsapp_business_account", "entry": "x"}):
        refused = parse_webhook(broken)
        assert refused.is_whatsapp_payload is False and refused.problems[0].path == "$.entry"


def test_round_trip_through_json() -> None:
    payload = inbound({"type": "text", "text": {"body": "hé"}})
    m = only_message(json.loads(json.dumps(payload)))
    assert m.content == {"body": "hé"}


def test_an_integer_too_large_for_a_float_costs_only_its_own_item() -> None:
    """JSON allows 10**400; float() of it raises OverflowError, which once threw away the whole batch."""
    huge = 10**400
    value = {
        "contacts": [contact()],
        "messages": [
            {"from": "16505551234", "id": "wamid.OK", "timestamp": TS, "type": "text", "text": {"body": "hi"}},
            {"from": "16505551234", "id": "wamid.LAT", "timestamp": TS, "type": "location",
             "location": {"latitude": huge, "longitude": 5}},
            {"from": "16505551234", "id": "wamid.TS", "timestamp": huge, "type": "text", "text": {"body": "late"}},
        ],
        "statuses": [{"id": "wamid.S", "status": "read", "timestamp": huge, "recipient_id": "16505551234"}],
    }
    batch = parse_webhook(json.loads(json.dumps(envelope(value))))
    assert batch.is_whatsapp_payload
    assert [(m.wa_message_id, m.type) for m in batch.messages] == [
        ("wamid.OK", "text"), ("wamid.LAT", "unsupported"), ("wamid.TS", "text")]
    assert abs((batch.messages[2].timestamp - datetime.now(tz=UTC)).total_seconds()) < 60
    assert [s.wa_message_id for s in batch.statuses] == ["wamid.S"]


@pytest.mark.parametrize("bad", ["US.\u00001", "US.12 34", "U.123", "US.", "USA.123", "US.12-34", 12345, "x" * 200])
def test_a_malformed_business_scoped_user_id_is_not_trusted(bad: Any) -> None:
    """A mended BSUID ("US.\\u00001" → "US.1") would be another customer: the message goes by its phone alone."""
    message = only_message(inbound({"type": "text", "text": {"body": "hi"}}, from_user_id=bad))
    assert message.from_user_id == "US.13491208655302741918"  # the contact's, matched by the phone number
    payload = envelope({"contacts": [contact(user_id=bad)],  # type: ignore[arg-type]
                        "messages": [{"from": "16505551234", "id": "wamid.B", "timestamp": TS, "type": "text",
                                      "text": {"body": "hi"}}]})
    assert only_message(payload).from_user_id is None
    for good in ("BR.1502576394655843", "US.ENT.1234abcd"):
        payload = envelope({"contacts": [contact(user_id=good)], "messages": [
            {"from": "16505551234", "id": "wamid.G", "timestamp": TS, "type": "text", "text": {"body": "hi"}}]})
        assert only_message(payload).from_user_id == good


@pytest.mark.parametrize("ancient", ["0", 0, "1", 86_400, "1000000000"])
def test_a_timestamp_from_before_whatsapp_is_taken_as_the_time_of_receipt(ancient: Any) -> None:
    """Taken as it is, 0 made a message from 1970: its 24-hour window closed at once, and the bot never answered."""
    message = only_message(inbound({"type": "text", "text": {"body": "hi"}}, timestamp=ancient))
    assert abs((message.timestamp - datetime.now(tz=UTC)).total_seconds()) < 60


def test_a_deletion_or_an_edit_is_never_an_answer_for_a_bot_even_malformed() -> None:
    from whatsapp_builder.whatsapp.ingest import is_for_the_bot

    assert not is_for_the_bot("system", {"kind": "revoke", "originalMessageId": "wamid.A"})
    assert not is_for_the_bot("unsupported", {"originalType": "revoke", "errors": []})
    assert not is_for_the_bot("unsupported", {"originalType": "edit", "errors": []})
    assert is_for_the_bot("unsupported", {"originalType": "hologram", "errors": []})


def test_a_product_enquiry_and_forwarding_marks_are_kept() -> None:
    """Meta's `context.referred_product` (a customer asks about a catalog item) and `forwarded` /
    `frequently_forwarded`."""
    enquiry = only_message(
        inbound(
            {"type": "text", "text": {"body": "Is this in stock?"}},
            context={"from": DISPLAY, "id": "wamid.PRODMSG",
                     "referred_product": {"catalog_id": "CAT9", "product_retailer_id": "SKU9"}},
        )
    )
    assert enquiry.content == {"body": "Is this in stock?", "replyTo": "wamid.PRODMSG",
                               "referredProduct": {"catalogId": "CAT9", "productRetailerId": "SKU9"}}
    forwarded = only_message(inbound({"type": "text", "text": {"body": "fw"}}, context={"forwarded": True}))
    assert forwarded.content == {"body": "fw", "forwarded": True}
    often = only_message(inbound({"type": "text", "text": {"body": "fw"}}, context={"frequently_forwarded": True}))
    assert often.content == {"body": "fw", "forwarded": True, "frequentlyForwarded": True}
    odd = only_message(inbound({"type": "text", "text": {"body": "x"}}, context={"referred_product": {"catalog_id": 7},
                                                                                  "forwarded": "yes"}))
    assert odd.content == {"body": "x", "referredProduct": {"catalogId": "7"}}
