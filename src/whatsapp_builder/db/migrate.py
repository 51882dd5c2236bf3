"""Alembic, driven from code: `db upgrade|downgrade|current` and the upgrade `serve` runs at start."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from whatsapp_builder.db.urls import sqlalchemy_url

ALEMBIC_DIR = Path(__file__).parent / "alembic"
# Any constant works; it only has to be the same in every process that migrates this database.
MIGRATION_LOCK_KEY = 0x5741_4200_0001


def alembic_config(database_url: str, output: io.StringIO | None = None) -> Config:
    config = Config(stdout=output) if output is not None else Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.attributes["database_url"] = database_url
    return config


def _run_locked(database_url: str, action: str, revision: str | None = None) -> str:
    """Run an Alembic command under a PostgreSQL advisory lock, so that several processes may start at once."""
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    output = io.StringIO()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                config = alembic_config(database_url, output)
                config.attributes["connection"] = connection
                if action == "upgrade":
                    command.upgrade(config, revision or "head")
                elif action == "downgrade":
                    command.downgrade(config, revision or "-1")
                else:
                    command.current(config, verbose=False)
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()
    return output.getvalue()


def upgrade(database_url: str, revision: str = "head") -> None:
    _run_locked(database_url, "upgrade", revision)


def downgrade(database_url: str, revision: str) -> None:
    _run_locked(database_url, "downgrade", revision)


def current(database_url: str) -> str:
    return _run_locked(database_url, "current").strip()
