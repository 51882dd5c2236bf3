"""Time-ordered UUIDs (version 7, RFC 9562) for rows whose order matters.

Messages are listed by (timestamp, id). WhatsApp timestamps have one-second resolution, so several messages of
a conversation often share one; a time-ordered id keeps them in the order they were stored.
"""

from __future__ import annotations

import os
import threading
import time
import uuid


class Uuid7Generator:
    """Monotonic within a process: ids from one generator always increase, even within one millisecond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def new(self) -> uuid.UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
            else:
                self._counter += 1
                if self._counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                    self._last_ms += 1
                    self._counter = 0
            ms, counter = self._last_ms, self._counter
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
        return uuid.UUID(int=value)
