"""The sends the simulator remembers, and the lookups `GET /_simulator/messages` makes in them.

A load test polls that route for each customer's replies while thousands of sends a second arrive: a lookup by
recipient reads only that recipient's sends, and one by time only the newest ones, so polling costs what it
returns and not the whole history (which would load the very process under test).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

_Entry = tuple[int, float, dict[str, Any]]  # (arrival number, arrival time in seconds since the epoch, record)


class SendHistory:
    """The newest `limit` records, in arrival order, indexed by recipient (phone digits and BSUID)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._items: deque[_Entry] = deque()
        # A list per recipient: most hold a send or two, and a deque costs ten times a short list.
        self._by_recipient: dict[str, list[_Entry]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (record for _, _, record in self._items)

    def append(self, record: dict[str, Any], at: float, recipients: Iterable[str]) -> None:
        if len(self._items) >= self._limit:
            self._forget_oldest()
        self._count += 1
        entry = (self._count, at, record)
        self._items.append(entry)
        for key in set(recipients):
            self._by_recipient.setdefault(key, []).append(entry)

    def _forget_oldest(self) -> None:
        oldest = self._items.popleft()
        for key, sends in self._indexed_under(oldest):
            del sends[0]
            if not sends:
                del self._by_recipient[key]

    def _indexed_under(self, entry: _Entry) -> list[tuple[str, list[_Entry]]]:
        return [
            (key, sends)
            for key in _keys(entry[2])
            if (sends := self._by_recipient.get(key)) is not None and sends[0] is entry
        ]

    def clear(self) -> None:
        self._items.clear()
        self._by_recipient.clear()

    def find(self, recipients: Iterable[str] | None = None, since: float | None = None) -> list[dict[str, Any]]:
        """Records sent to any of `recipients` (all when None) that arrived at or after `since`, oldest first."""
        if recipients is None:
            return _since(self._items, since)
        found: dict[int, _Entry] = {}
        for key in recipients:
            for entry in _since_entries(self._by_recipient.get(key, []), since):
                found[entry[0]] = entry
        # In arrival order across the keys (a send may be indexed under its phone number and its BSUID).
        return [record for _, _, record in sorted(found.values())]


def _since_entries(items: Sequence[_Entry], since: float | None) -> list[_Entry]:
    if since is None:
        return list(items)
    newest: list[_Entry] = []
    for entry in reversed(items):
        if entry[1] < since:
            break  # arrival order: everything before this one is older still
        newest.append(entry)
    newest.reverse()
    return newest


def _since(items: deque[_Entry], since: float | None) -> list[dict[str, Any]]:
    return [record for _, _, record in _since_entries(items, since)]


def recipient_keys(to_digits: str | None, recipient: str | None) -> list[str]:
    """The index keys of a send: `to:<digits>` for a phone number, `id:<value>` for a `recipient` field."""
    keys = []
    if to_digits:
        keys.append(f"to:{to_digits}")
    if recipient:
        keys.append(f"id:{recipient}")
    return keys


def _keys(record: dict[str, Any]) -> list[str]:
    return recipient_keys(record.get("to"), record.get("recipientUserId") or record.get("recipient"))
