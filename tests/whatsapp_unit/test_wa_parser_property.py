"""No JSON value, arbitrary or almost valid, makes parse_webhook raise."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsapp_builder.whatsapp.parser import WebhookBatch, parse_webhook

KEYS = [
    "object",
    "entry",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "messages",
    "statuses",
    "errors",
    "contacts",
    "id",
    "from",
    "from_user_id",
    "user_id",
    "wa_id",
    "type",
    "text",
    "body",
    "timestamp",
    "interactive",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "response_json",
    "context",
    "referral",
    "profile",
    "name",
    "status",
    "error_data",
    "code",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["whatsapp_business_account", "messages", "text", "interactive", "1e308", "-5"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    assert isinstance(parse_webhook(value), WebhookBatch)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6))
def test_whatsapp_object_with_arbitrary_entries(extra: dict[str, Any]) -> None:
    payload = {"object": "whatsapp_business_account", **extra}
    payload["object"] = "whatsapp_business_account"
    assert isinstance(parse_webhook(payload), WebhookBatch)


VALID: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "1555", "phone_number_id": "42"},
                        "contacts": [{"profile": {"name": "A"}, "wa_id": "1555000", "user_id": "US.1"}],
                        "messages": [
                            {
                                "from": "1555000",
                                "id": "wamid.A",
                                "timestamp": "1750000000",
                                "type": "interactive",
                                "interactive": {
                                    "type": "nfm_reply",
                                    "nfm_reply": {"response_json": "{}", "body": "Sent", "name": "flow"},
                                },
                                "context": {"from": "1555", "id": "wamid.Q"},
                            },
                            {
                                "from": "1555000",
                                "id": "wamid.B",
                                "timestamp": "1750000000",
                                "type": "location",
                                "location": {"latitude": 1, "longitude": 2},
                            },
                        ],
                        "statuses": [
                            {
                                "id": "wamid.C",
                                "status": "failed",
                                "timestamp": "1750000000",
                                "recipient_id": "1555000",
                                "errors": [{"code": 131026, "title": "x", "error_data": {"details": "d"}}],
                            }
                        ],
                        "errors": [{"code": 1, "title": "t"}],
                    },
                }
            ],
        }
    ],
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


ALL_PATHS = _paths(VALID)[1:]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), json_values, st.booleans()), min_size=1, max_size=4))
def test_mutated_valid_payload_never_raises(mutations: list[tuple[tuple[Any, ...], Any, bool]]) -> None:
    payload = copy.deepcopy(VALID)
    for path, replacement, delete in mutations:
        node: Any = payload
        try:
            for key in path[:-1]:
                node = node[key]
            if delete:
                del node[path[-1]]
            else:
                node[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue
    assert isinstance(parse_webhook(payload), WebhookBatch)


def test_valid_sample_parses_cleanly() -> None:
    batch = parse_webhook(VALID)
    assert batch.problems == []
    assert [m.type for m in batch.messages] == ["interactive", "location"]
    assert batch.messages[0].content["replyTo"] == "wamid.Q"
    assert batch.statuses[0].errors[0]["code"] == 131026
    assert batch.errors[0].code == 1


def test_deeply_nested_json_string_in_flow_response() -> None:
    payload = copy.deepcopy(VALID)
    nfm = payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["nfm_reply"]
    nfm["response_json"] = "[" * 100_000
    batch = parse_webhook(payload)
    assert batch.messages[0].content["flowResponse"] == "[" * 100_000
