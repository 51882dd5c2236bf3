"""WhatsApp's 24-hour customer-service window, computed from the clock rather than trusted from a stored flag."""

from __future__ import annotations

import datetime as dt

WINDOW = dt.timedelta(hours=24)


def is_window_open(last_customer_message_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    if last_customer_message_at is None:
        return False
    return (now or dt.datetime.now(dt.UTC)) - last_customer_message_at < WINDOW
