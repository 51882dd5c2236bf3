"""The active WhatsApp config, decrypted, cached for a few seconds per process.

Every webhook needs the app secret and every send the access token; reading and decrypting them once per
request would cost a query each time. A change made through this process invalidates the cache at once;
other processes see it within `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_builder.core.crypto import SecretBox, SecretKeyMismatch
from whatsapp_builder.logging import get_logger
from whatsapp_builder.whatsapp.config_service import ActiveConfig, load_active

log = get_logger(__name__)

MISMATCH_LOG_SECONDS = 60.0


class ActiveConfigCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, ttl: float = 5.0) -> None:
        self._sessions = sessions
        self._secrets = secrets
        self._ttl = ttl
        self._value: ActiveConfig | None = None
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        # Told when the config cannot be read with this process's key (a `worker` then stops: cli.py).
        self.on_key_mismatch: Callable[[SecretKeyMismatch], None] | None = None
        self._mismatch_logged_at = float("-inf")

    async def get(self) -> ActiveConfig | None:
        """Raises SecretKeyMismatch when the config was saved by a process with another WAB_SECRET_KEY."""
        if time.monotonic() - self._loaded_at < self._ttl:
            return self._value
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self._ttl:
                async with self._sessions() as session:
                    try:
                        self._value = await load_active(session, self._secrets)
                    except SecretKeyMismatch as exc:
                        if time.monotonic() - self._mismatch_logged_at >= MISMATCH_LOG_SECONDS:
                            self._mismatch_logged_at = time.monotonic()
                            log.error(
                                "the WhatsApp config cannot be read: webhooks and sends wait for a process with the"
                                " WAB_SECRET_KEY it was saved with, or for the config to be saved again",
                                reason=str(exc),
                            )
                        if self.on_key_mismatch is not None:
                            self.on_key_mismatch(exc)
                        raise
                self._loaded_at = time.monotonic()
        return self._value

    def age_seconds(self) -> float:
        """How long ago the cached config was read."""
        return time.monotonic() - self._loaded_at

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
