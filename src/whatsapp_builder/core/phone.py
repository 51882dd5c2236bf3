"""Phone numbers in E.164, the form WhatsApp and the users table use."""

from __future__ import annotations

import functools
import re

import phonenumbers

_SEPARATORS = re.compile(r"[\s().\-]")


def normalize_e164(raw: str) -> str:
    """'+1 (650) 555-1234', '16505551234' (WhatsApp's wa_id form) or '00…' -> '+16505551234'.

    Raises ValueError with a message fit for an API error when it is not a valid number.
    """
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        text = "+" + text
    if not text[1:].isdigit() or not 8 <= len(text) <= 16:
        raise ValueError("must be a phone number in international form, e.g. +14155550123")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be a phone number in international form, e.g. +14155550123") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("is not a possible phone number for its country code")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=16384)  # most messages come from customers seen lately; parsing costs 14 µs
def customer_phone(raw: str | None) -> str | None:
    """WhatsApp's `wa_id` (digits) as the users table stores it (E.164), or None when it is not a number."""
    if not raw:
        return None
    try:
        return normalize_e164(raw)
    except ValueError:
        # Not a valid number, but still digits (with the usual separators): kept, as WhatsApp's wa_id is the
        # customer's address. Anything with other characters in it is no number; keeping only its digits would
        # make someone else's ("1555abc1234" -> +15551234).
        digits = _SEPARATORS.sub("", raw.strip()).removeprefix("+")
        return "+" + digits if digits.isdigit() and digits.isascii() and 1 < len(digits) < 20 else None
