"""How a customer's words are compared with a chatbot's: trigger and restart keywords, a question's options."""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=4096)
def _accent_folds(base: str) -> bool:
    return unicodedata.name(base, "").startswith(("LATIN", "GREEK"))


def without_accents(text: str) -> str:
    """Latin and Greek letters without their accents ("Sí" → "Si", "Crème brûlée" → "Creme brulee", "Καλημέρα" →
    "Καλημερα"): customers often type without them. The marks of other scripts (Devanagari vowel signs, Arabic
    vowels, Cyrillic й) are part of their letters and stay."""
    if text.isascii():
        return text
    kept: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char) and kept and _accent_folds(kept[-1]):
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def keyword_key(text: str) -> str:
    """A keyword or a message as keywords are compared: spaces collapsed, case and accents folded ("menú" is
    "Menu"), and each word without the punctuation people put around it ("Menu!", "Hi, I'd like", "¿pizza?",
    "(menu)"), unless that is all there is."""
    # A turn compares one message with every keyword of every chatbot (start, restart, hand-off, titles): the
    # same few texts again and again. Short ones are remembered; a long one is no keyword, and is rarely asked.
    return _short_keyword_key(text) if len(text) <= _REMEMBERED else _keyword_key(text)


_REMEMBERED = 256


@functools.lru_cache(maxsize=8192)
def _short_keyword_key(text: str) -> str:
    return _keyword_key(text)


def _keyword_key(text: str) -> str:
    words = without_accents(text.casefold()).split()
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
# A one-word title this short ("Yes", "No", "OK", "Tea") is in too many sentences ("no problem", "yes, it's
# ana@...") to be found in one: it counts written alone, or with polite words only ("yes please", "tea, thanks").
_SHORTEST_HELD_WORD = 4
_POLITE = frozenset(
    [
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "you",
        "thx",
        "ok",
        "okay",
        "merci",
        "bitte",
        "danke",
        "gracias",
        "por",
        "favor",
        "grazie",
        "obrigado",
        "obrigada",
    ]
)
# Words that make a title written anywhere after them a refusal of it ("not pepperoni", "I don't want to talk to a
# human", "pas de pepperoni"). Anywhere, not just next to it: a customer who asks for a human with one of these
# earlier in the sentence is asked again, which is better than handing off one who said they did not want that.
_NEGATIONS = frozenset(
    word.replace("'", apostrophe)
    for word in (
        *("not", "no", "never", "without", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "won't"),
        *("wont", "can't", "cant", "cannot", "except", "sin", "ohne", "kein", "keine", "nicht", "pas", "sans"),
        "senza",
    )
    for apostrophe in ("'", "\u2019")  # don't, don’t
)
# Longer numbers are no option's position (and int() of thousands of digits raises).
_LONGEST_POSITION = 6


def _words(key: str) -> list[str]:
    """A keyword key's words, without those of signs only ("📞 Talk to a human", "✅ Yes"), unless that is all."""
    words = key.split()
    return [w for w in words if any(c.isalnum() for c in w)] or words


def _at(words: list[str], part: list[str]) -> int | None:
    """Where `part` first appears in `words` as consecutive whole words."""
    size = len(part)
    if not 0 < size <= len(words):
        return None
    return next((i for i in range(len(words) - size + 1) if words[i : i + size] == part), None)


def _only(indexes: list[int]) -> int | None:
    return indexes[0] if len(indexes) == 1 else None


def _held(said: list[str], titles: list[list[str]]) -> int | None:
    """The one title the message holds as whole words, with no refusal before it; of titles held within one another
    ("Pizza" in "Pizza and drink"), the longest."""
    held: list[int] = []
    for i, words in enumerate(titles):
        at = _at(said, words)
        if at is None or not _NEGATIONS.isdisjoint(said[:at]):
            continue
        short = len(words) == 1 and len(words[0]) < _SHORTEST_HELD_WORD
        if short and not _POLITE.issuperset(said[:at] + said[at + 1 :]):
            continue
        held.append(i)
    if len(held) > 1:
        longest = max(held, key=lambda i: len(titles[i]))
        if all(_at(titles[longest], titles[i]) is not None for i in held):
            return longest
    return _only(held)


@functools.lru_cache(maxsize=4096)
def _keyword_words(keyword: str) -> list[str]:
    """`_words` of a keyword (shared: never change the list): chatbots' keywords are few, asked for at every
    message."""
    return _words(keyword_key(keyword))


def asks_for(text: str, keywords: Sequence[str]) -> bool:
    """Whether a message asks for what one of `keywords` names in a sentence of its own: it holds a keyword of three
    words or more as consecutive whole words ("I want to talk to a person" holds "talk to a person"), or a keyword
    of one or two words with polite words only ("agent please", "a human, thanks"); either with no refusal before
    it ("I don't want to talk to a person", as for typed choices). A shorter keyword in a sentence names something
    without asking for it: "thanks for the great customer service!", "can a human deliver it?", "is the person
    delivering it on time?"."""
    said = _words(keyword_key(text))
    for keyword in keywords:
        words = _keyword_words(keyword)
        at = _at(said, words)
        if at is None or not _NEGATIONS.isdisjoint(said[:at]):
            continue
        if len(words) > 2 or _POLITE.issuperset(said[:at] + said[at + len(words) :]):
            return True
    return False


def _by_number(said: str, titles: list[list[str]]) -> int | None:
    """A question's option by a number: the one title with that number as a word ("2" for "2 people" or "Table for
    2"); when no title has a number in it, the option at that place, 1 for the first. A number among titles with
    other numbers in them ("2" among "1-2 people", "4 slices") is no guess at a place."""
    with_it = [i for i, words in enumerate(titles) if said in words]
    if with_it:
        return _only(with_it)
    if any(char.isdigit() for words in titles for word in words for char in word):
        return None
    number = int(said)
    return number - 1 if 1 <= number <= len(titles) else None


def chosen_option(text: str, titles: Sequence[str], *, by_number: bool = False) -> int | None:
    """The index of the option a customer chose by writing instead of tapping, else None. In order:
    - its title (`written_title`);
    - a number: with `by_number` (a question's options, which its text may number), the one title with that
      number as a word, else, when no title has a number in it, the option at that place; otherwise only a title
      that is that number. WhatsApp shows buttons and
      list rows unnumbered, and there "4" is more likely a quantity written ahead than the fourth row;
    - the one title the message holds as whole words ("Pepperoni please", "what are your opening hours?"), unless
      a refusal comes before it ("not pepperoni", "I don't want to talk to a human"); a one-word title of under 4
      characters ("Yes", "No") only alone or with polite words ("yes please");
    - the one title the message is a part of, as whole words ("order" for "Order a pizza", "no" for "No thanks";
      a part not at the title's start needs at least 3 characters: "hours", not "to").
    Words of signs only are left out of titles ("📞 Talk to a human"). Two titles that fit the same rule choose
    nothing: the customer is asked again."""
    exact = written_title(text, titles)
    if exact is not None:
        return exact
    said = keyword_key(text)
    keys = [_words(keyword_key(title)) for title in titles]
    if said.isascii() and said.isdigit():
        return _by_number(said, keys) if by_number and len(said) <= _LONGEST_POSITION else None
    said_words = _words(said)
    exact = _only([i for i, words in enumerate(keys) if words == said_words])
    if exact is not None:
        return exact
    held = _held(said_words, keys)
    if held is not None:
        return held
    return _only(
        [
            i
            for i, words in enumerate(keys)
            if _at(words, said_words) is not None
            and (words[: len(said_words)] == said_words or len(said) >= _SHORTEST_INNER_PART)
        ]
    )


def opening_option(text: str, titles: Sequence[str]) -> int | None:
    """The option a conversation's first message names, strictly: its title (`written_title`), or the first words
    of exactly one title ("order" for "Order a pizza"). Not a title held in a sentence nor a word inside one: a first
    message is written before any question was seen, and "I tried to order a pizza but it never came" or "pizza"
    (checking it is the right shop) are no choice."""
    exact = written_title(text, titles)
    if exact is not None:
        return exact
    said = _words(keyword_key(text))
    if not said or (len(said) == 1 and said[0].isdigit()):
        return None
    return _only([i for i, title in enumerate(titles) if _words(keyword_key(title))[: len(said)] == said])
