"""How a webhook's sender number (WhatsApp's wa_id) becomes the users table's phone number."""

from __future__ import annotations

import pytest

from whatsapp_builder.core.phone import customer_phone


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("16505551234", "+16505551234"),
        ("+1 (650) 555-1234", "+16505551234"),
        ("999123", "+999123"),  # not a valid number, but digits: WhatsApp's address for the customer
        ("1555abc1234", None),  # not "+15551234", someone else's number
        ("1" * 25, None),
        ("", None),
        (None, None),
    ],
)
def test_customer_phone(raw: str | None, stored: str | None) -> None:
    assert customer_phone(raw) == stored
