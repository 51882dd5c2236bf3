"""How a customer's words are compared with a chatbot's: trigger and restart keywords, a question's options."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def _closes(char: str) -> bool:
    """Punctuation that goes after a word: sentence marks, closing quotes and brackets (not # or %: "C#" and
    "50%" are words of their own)."""
    return char in ".,!?;:…\"'。、！？؟" or unicodedata.category(char) in ("Pe", "Pf")


def _opens(char: str) -> bool:
    """Punctuation that goes before a word: opening quotes and brackets, Spanish ¡ and ¿ (not # or @: "#order" is
    a keyword of its own)."""
    return char in "¡¿\"'" or unicodedata.category(char) in ("Ps", "Pi")


def bare_word(word: str) -> str:
    """A word without the punctuation around it ("Menu!" → "Menu", "(b)" → "b"); empty when it is all punctuation."""
    end = len(word)
    while end and _closes(word[end - 1]):
        end -= 1
    start = 0
    while start < end and _opens(word[start]):
        start += 1
    return word[start:end]


def keyword_key(text: str) -> str:
    """A keyword or a message as keywords are compared: spaces collapsed, case folded, and each word without the
    punctuation people put around it ("Menu!", "Hi, I'd like", "¿pizza?", "(menu)"), unless that is all there is."""
    words = text.casefold().split()
    bare = " ".join(b for b in (bare_word(w) for w in words) if b)
    return bare or " ".join(words)


def message_keys(text: str) -> set[str]:
    """The forms of a message compared with keywords: `keyword_key`'s, and as written (spaces collapsed, case
    folded), so that a keyword of punctuation only ("?") still starts a message ("? what")."""
    return {keyword_key(text), " ".join(text.casefold().split())} - {""}


def written_title(text: str, titles: Sequence[str]) -> int | None:
    """The index of the title the customer wrote (a button's, a list row's, a question's option): equal but for
    case and surrounding spaces, else but for the punctuation around words ("Yes!", "tea?"). None when none is."""
    wanted = text.strip().casefold()
    for i, title in enumerate(titles):
        if title.strip().casefold() == wanted:
            return i
    loosely = keyword_key(text)
    for i, title in enumerate(titles):
        if keyword_key(title) == loosely:
            return i
    return None


# A word of a title this short is too common to stand for it ("to" in "Talk to a human"), unless it starts it ("No" in
# "No thanks").
_SHORTEST_INNER_PART = 3
# A one-word title this short ("Yes", "No", "OK") is in too many sentences ("no problem", "yes, it's ana@...") to be
# found in one: it is chosen when written alone (or as the start of a longer title's words).
_SHORTEST_HELD_WORD = 4
# Words that make a title written after them a refusal of it ("not pepperoni", "I don't want to talk to a human").
_REFUSALS = ("not", "don't", "dont", "never", "without", "except", "but", "nor", "instead", "rather", "doesn't")
_NEGATIONS = frozenset(
    word.replace("'", apostrophe)
    for word in (*_REFUSALS, "didn't", "won't", "can't", "cannot")
    for apostrophe in ("'", "\u2019")  # don't, don’t
)


def _at(words: list[str], part: list[str]) -> int | None:
    """Where `part` first appears in `words` as consecutive whole words."""
    size = len(part)
    if not 0 < size <= len(words):
        return None
    return next((i for i in range(len(words) - size + 1) if words[i : i + size] == part), None)


def _only(indexes: list[int]) -> int | None:
    return indexes[0] if len(indexes) == 1 else None


def _held(said_words: list[str], keys: list[str], *, several_words: bool) -> int | None:
    """The one title the message holds as whole words, with no refusal before it; of titles held within one another
    ("Pizza" in "Pizza and drink"), the longest. `several_words`: only titles of two words or more."""
    held: list[int] = []
    for i, key in enumerate(keys):
        words = key.split()
        if several_words and len(words) < 2:
            continue
        if len(words) == 1 and len(key) < _SHORTEST_HELD_WORD:
            continue
        at = _at(said_words, words)
        if at is not None and _NEGATIONS.isdisjoint(said_words[:at]):
            held.append(i)
    if len(held) > 1:
        longest = max(held, key=lambda i: len(keys[i].split()))
        if all(_at(keys[longest].split(), keys[i].split()) is not None for i in held):
            return longest
    return _only(held)


def chosen_option(text: str, titles: Sequence[str], *, by_number: bool = False, strict: bool = False) -> int | None:
    """The index of the option a customer chose by writing instead of tapping, else None. In order:
    - its title (`written_title`);
    - a number chooses by position only with `by_number` (options the question's text may have numbered), 1 for
      the first; when a title starts with a number, it chooses the title that starts with it ("2" for "2 people").
      Otherwise only a title that is that number: WhatsApp shows buttons and list rows unnumbered, and there "4" is
      more likely a quantity written ahead than the fourth row;
    - the one title the message holds as whole words ("Pepperoni please", "what are your opening hours?"), unless
      a refusal comes before it ("not pepperoni", "I don't want to talk to a human"); a one-word title of under 4
      characters ("Yes", "No") only when written alone;
    - the one title the message is a part of, as whole words ("order" for "Order a pizza", "no" for "No thanks";
      a part not at the title's start needs at least 3 characters: "hours", not "to").
    `strict` (for an earlier step the customer has moved on from): the title, or a title of two words or more
    held in the message. Two titles that fit the same rule choose nothing: the customer is asked again."""
    exact = written_title(text, titles)
    if exact is not None:
        return exact
    said = keyword_key(text)
    keys = [keyword_key(title) for title in titles]
    if said.isascii() and said.isdigit():
        if not by_number or strict:
            return None
        if any(key[:1].isdigit() for key in keys):  # "2" for "2 people", not for the second option
            return _only([i for i, key in enumerate(keys) if key.split()[:1] == [said]])
        number = int(said)
        return number - 1 if 1 <= number <= len(titles) else None
    said_words = said.split()
    held = _held(said_words, keys, several_words=strict)
    if held is not None or strict:
        return held
    return _only(
        [
            i
            for i, key in enumerate(keys)
            if _at(key.split(), said_words) is not None
            and (key.split()[: len(said_words)] == said_words or len(said) >= _SHORTEST_INNER_PART)
        ]
    )
