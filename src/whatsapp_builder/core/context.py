"""What one process shares between requests and jobs: settings, the database pool, the secret box.

Created by the app factory (or a worker) and passed along; nothing here lives at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from whatsapp_builder.core.crypto import SecretBox
from whatsapp_builder.db.engine import create_engine, create_session_factory
from whatsapp_builder.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox

    @classmethod
    def create(cls, settings: Settings, database_url: str) -> AppContext:
        engine = create_engine(settings, database_url)
        return cls(
            settings=settings,
            database_url=database_url,
            engine=engine,
            sessions=create_session_factory(engine),
            secrets=SecretBox(settings.resolved_secret_key()),
        )

    async def close(self) -> None:
        await self.engine.dispose()
