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


def _contains(words: list[str], part: list[str]) -> bool:
    """Whether `part` appears in `words` as consecutive whole words."""
    size = len(part)
    return 0 < size <= len(words) and any(words[i : i + size] == part for i in range(len(words) - size + 1))


def _only(indexes: list[int]) -> int | None:
    return indexes[0] if len(indexes) == 1 else None


def chosen_option(text: str, titles: Sequence[str], *, by_number: bool = False) -> int | None:
    """The index of the option a customer chose by writing instead of tapping, else None. In order:
    - its title (`written_title`);
    - with `by_number` (options the question's text may have numbered), its number, 1 for the first ("2", "2."),
      unless a title is itself a number; WhatsApp shows buttons and list rows unnumbered, so there a number is
      more likely a quantity written ahead ("4" at a list of pizzas) than the fourth row;
    - the one title the message holds as whole words ("Pepperoni please", "what are your opening hours?");
    - the one title the message is a part of, as whole words ("order" for "Order a pizza", "no" for "No thanks";
      a part not at the title's start needs at least 3 characters: "hours", not "to").
    Two titles that fit the same rule choose nothing: the customer is asked again."""
    exact = written_title(text, titles)
    if exact is not None:
        return exact
    said = keyword_key(text)
    keys = [keyword_key(title) for title in titles]
    if by_number and said.isascii() and said.isdigit() and not any(key.isdigit() for key in keys):
        number = int(said)
        return number - 1 if 1 <= number <= len(titles) else None
    said_words = said.split()
    held = _only([i for i, key in enumerate(keys) if _contains(said_words, key.split())])
    if held is not None:
        return held
    return _only(
        [
            i
            for i, key in enumerate(keys)
            if _contains(key.split(), said_words)
            and (key.split()[: len(said_words)] == said_words or len(said) >= _SHORTEST_INNER_PART)
        ]
    )
