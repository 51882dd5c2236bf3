"""Checking and normalising answers to question nodes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import phonenumbers

from whatsapp_builder.flows import patterns
from whatsapp_builder.flows.words import bare_word, chosen_option

NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
)
MAX_ANSWER = 4096


@dataclass(frozen=True)
class Answer:
    valid: bool
    value: Any = None


INVALID = Answer(valid=False)


# Commas that group thousands: 1,000 and 12,500.50; not 0,500 (a decimal comma: half).
THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
# Dots that may group thousands (1.000, 12.500): a decimal point in English, thousands in most of Europe.
DOTTED_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+")


def parse_number(value: object) -> int | float | None:
    """A number from an int/float or a numeric string (``1,5`` is accepted as 1.5, ``1,000`` as 1000); else
    None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if THOUSANDS.fullmatch(text):
        text = text.replace(",", "")  # 1,000 and 12,500.50: commas that group thousands
    elif "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")
    if len(text) > 100 or not NUMBER.match(text):
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    number = float(text)
    if number != number or abs(number) == float("inf"):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 and "e" not in text.lower() else number


# Words after a number that change its value: "5 thousand" is not 5.
_MULTIPLIERS = frozenset(
    [
        "hundred",
        "hundreds",
        "thousand",
        "thousands",
        "million",
        "millions",
        "billion",
        "billions",
        "dozen",
        "dozens",
        "k",
        "m",
        "bn",
        "grand",
        "lakh",
        "crore",
        "mil",
        "mille",
        "millón",
        "millones",
        "milliard",
        "milliarden",
        "tausend",
        "cent",
        "cents",
        "cien",
        "ciento",
        "mila",
        "miljoen",
    ]
)


# Numbers people write as words (English, as the demo speaks), and "a dozen".
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12}
# A keycap emoji, "2️⃣": the digit, U+FE0F, U+20E3.
_KEYCAP = re.compile(r"([0-9])\ufe0f?\u20e3")


def _as_number(word: str) -> int | float | None:
    """A word as a number: digits (not 1.000, which is ambiguous), or a keycap emoji."""
    bare = _KEYCAP.sub(r"\1", bare_word(word))
    return None if DOTTED_THOUSANDS.fullmatch(bare) else parse_number(bare)


# Words after a number that make it no answer to "how many": "1 sec", "10 minutes", "1 question: ...".
_NOT_A_COUNT = frozenset(
    "s sec secs second seconds segundo segundos m min mins minute minutes minuto minutos moment moments h hour hours"  # noqa: SIM905
    " hr hrs hora horas day days week weeks question questions more quick thing".split()
)
# An answer that starts with a number and goes on for more words than this is a sentence, not a count ("2 pizzas
# please" is a count).
_MOST_WORDS_AFTER_A_NUMBER = 3


def _number_in_words(answer: str) -> int | float | None:
    """The number an answer starts with, written with words after it ("2!", "2 pizzas please"), or a number
    written as a word alone ("three", "Three!", "a dozen"; not "one sec", where it is no answer). None when it does
    not start with one ("about 3", "not 5"), another number follows ("1 or 2", "1 ½", "twenty one"), or a word
    after it changes its value ("5 thousand", "2 dozen")."""
    words = [bare_word(word).casefold() for word in answer.split()]
    if words[:1] in (["a"], ["an"]) and words[1:] == ["dozen"]:
        words = words[1:]
    if len(words) == 1 and words[0] in _NUMBER_WORDS:
        return _NUMBER_WORDS[words[0]]
    first, *rest = answer.split()
    number = _as_number(first)
    if number is None or any(char.isnumeric() for word in rest for char in word):
        return None
    if any(bare_word(word).casefold() in _NUMBER_WORDS for word in rest):
        return None
    if rest and bare_word(rest[0]).casefold() in _MULTIPLIERS | _NOT_A_COUNT:
        return None
    if len(rest) > _MOST_WORDS_AFTER_A_NUMBER:
        return None  # "1 quick question: do you deliver?" says more than how many
    return number


def parse_date(text: str) -> str | None:
    cleaned = " ".join(text.replace(",", " ").split())
    for fmt in DATE_FORMATS:
        try:
            parsed: date = datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
        return parsed.isoformat()
    return None


def parse_phone(text: str, default_region: str | None = None) -> str | None:
    """A phone number as `+` and digits. International forms (+41…, 0041…, or the digits alone) are taken as
    written: `+` and 7–15 digits. A national form ("079 123 45 67", "(415) 555-0123") is read in
    `default_region` (the customer's own country, from their WhatsApp number) when it is a valid number there
    (a possible length is not enough: "079 123 45 67" from a US customer has no US area code), and given in
    E.164."""
    cleaned = re.sub(r"[\s().\-/]", "", text)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    digits = cleaned[1:] if cleaned.startswith("+") else cleaned
    if not digits.isascii() or not digits.isdigit():
        return None
    if not cleaned.startswith("+") and default_region is not None:
        try:
            national = phonenumbers.parse(digits, default_region)
        except phonenumbers.NumberParseException:
            national = None
        if national is not None and phonenumbers.is_valid_number(national):
            return phonenumbers.format_number(national, phonenumbers.PhoneNumberFormat.E164)
    if not 7 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits


def region_of(phone: str | None) -> str | None:
    """The country ("CH") of an E.164 number, for reading a customer's national numbers; None when unknown."""
    if not phone:
        return None
    try:
        country_code = phonenumbers.parse(phone, None).country_code
    except phonenumbers.NumberParseException:
        return None
    if country_code is None:
        return None
    # By country code (the main country of +1 is US): the customer's own number need not be a valid one.
    region = phonenumbers.region_code_for_country_code(country_code)
    return region if region and region != "ZZ" else None


def _length_ok(text: str, rules: Mapping[str, Any]) -> bool:
    low, high = rules.get("minLength"), rules.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        return False
    return not (isinstance(high, int) and len(text) > high)


def _range_ok(number: float, rules: Mapping[str, Any]) -> bool:
    low, high = parse_number(rules.get("min")), parse_number(rules.get("max"))
    if low is not None and number < low:
        return False
    return not (high is not None and number > high)


def _match_option(text: str, options: object) -> Answer:
    if not isinstance(options, list):
        return INVALID
    choices = [o for o in options if isinstance(o, str)]
    chosen = chosen_option(text, choices, by_number=True)
    return INVALID if chosen is None else Answer(True, choices[chosen])


def _full_match(pattern: object, text: str) -> bool:
    if not isinstance(pattern, str):
        return False
    return patterns.full_match(pattern, text)


def check_answer(text: str | None, rules: Mapping[str, Any], *, customer_phone: str | None = None) -> Answer:
    """Validate ``text`` against a question's ``validation`` and return the value to store. ``customer_phone``
    (E.164) lets a phone question accept a number written as the customer's country writes it."""
    if text is None:
        return INVALID
    answer = text.strip()
    if not answer or len(answer) > MAX_ANSWER:
        return INVALID
    kind = rules.get("type", "text")
    if kind == "number":
        if DOTTED_THOUSANDS.fullmatch(answer):
            return INVALID  # 1.000: one (English) or a thousand (most of Europe)? Asked again rather than guessed.
        number = parse_number(answer)
        if number is None:
            number = _number_in_words(answer)
        if number is not None and rules.get("wholeNumber") is True:
            # "3", "+3" or "3.0", not "3.5" nor "1e1": someone answering a count writes its digits.
            whole = isinstance(number, int) or ("e" not in answer.lower() and number.is_integer())
            number = int(number) if whole else None
        return Answer(True, number) if number is not None and _range_ok(number, rules) else INVALID
    if kind == "date":
        iso = parse_date(answer)
        return Answer(True, iso) if iso is not None else INVALID
    if kind == "phone":
        phone = parse_phone(answer, region_of(customer_phone))
        return Answer(True, phone) if phone is not None else INVALID
    if kind == "options":
        return _match_option(answer, rules.get("options"))
    if not _length_ok(answer, rules):
        return INVALID
    if kind == "email":
        return Answer(True, answer) if EMAIL.match(answer) else INVALID
    if kind == "regex":
        return Answer(True, answer) if _full_match(rules.get("pattern"), answer) else INVALID
    return Answer(True, answer)


def default_retry_prompt(rules: Mapping[str, Any]) -> str:
    """A sensible retry message for the validation type."""
    kind = rules.get("type", "text")
    if kind == "number":
        low, high = parse_number(rules.get("min")), parse_number(rules.get("max"))
        what = "a whole number" if rules.get("wholeNumber") is True else "a number"
        if low is not None and high is not None:
            return f"Please answer with {what} from {low} to {high}."
        return f"Please answer with {what}."
    if kind == "email":
        return "Please enter a valid email address, like name@example.com."
    if kind == "phone":
        return "Please enter a valid phone number with the country code, like +14155550123."
    if kind == "date":
        return "Please enter a date like 2025-12-31 or 31/12/2025."
    if kind == "options":
        options = rules.get("options")
        if isinstance(options, list) and options:
            return "Please answer with one of: " + ", ".join(str(o) for o in options) + "."
    return "Sorry, I didn't understand that. Please try again."
