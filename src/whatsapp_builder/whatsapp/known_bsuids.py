"""The BSUIDs this process has seen on a user lately, so that the statuses naming them skip a statement.

Every message the business sends gets three or more status webhooks, each naming the customer's BSUID; one of
them teaches the customer's BSUID when it has none yet (delivery.learn_bsuids_from_statuses). Once the database
has answered that a user has that BSUID, the others have nothing to teach. A BSUID that stops being a user's
(WhatsApp changed it) stays here harmlessly: a status naming it could only teach a customer without one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

KNOWN_BSUIDS_LIMIT = 50_000  # about 5 MB: the customers of the last minutes at the top sending rate


class KnownBsuids:
    def __init__(self, limit: int = KNOWN_BSUIDS_LIMIT) -> None:
        self._limit = limit
        self._seen: OrderedDict[str, None] = OrderedDict()  # in the order learned: the oldest go first

    def __contains__(self, bsuid: object) -> bool:
        return bsuid in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add_all(self, bsuids: Iterable[str]) -> None:
        for bsuid in bsuids:
            self._seen[bsuid] = None
            self._seen.move_to_end(bsuid)
            if len(self._seen) > self._limit:
                self._seen.popitem(last=False)
