"""One async engine (and pool) per process, configured from settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from whatsapp_builder.db.urls import sqlalchemy_url
from whatsapp_builder.settings import Settings


def create_engine(settings: Settings, database_url: str) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # SQLAlchemy's pool has no idle eviction; recycling by age bounds how long an idle connection lives.
        pool_recycle=settings.db_idle_timeout_seconds,
        pool_timeout=settings.db_connect_timeout_seconds,
        # A connection the database dropped (a restart, a failover) is replaced at checkout instead of failing the
        # request that drew it. These sessions serve the API, not the webhook, flow and delivery paths.
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, round(settings.db_connect_timeout_seconds))},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
