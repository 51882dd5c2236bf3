"""The active WhatsApp config, decrypted, cached for a few seconds per process.

Every webhook needs the app secret and every send the access token; reading and decrypting them once per
request would cost a query each time. A change made through this process invalidates the cache at once;
other processes see it within `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_builder.core.crypto import SecretBox
from whatsapp_builder.whatsapp.config_service import ActiveConfig, load_active


class ActiveConfigCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, ttl: float = 5.0) -> None:
        self._sessions = sessions
        self._secrets = secrets
        self._ttl = ttl
        self._value: ActiveConfig | None = None
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> ActiveConfig | None:
        if time.monotonic() - self._loaded_at < self._ttl:
            return self._value
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self._ttl:
                async with self._sessions() as session:
                    self._value = await load_active(session, self._secrets)
                self._loaded_at = time.monotonic()
        return self._value

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
