"""Migrations can be trusted: up from empty, down to nothing, up again, and they agree with the models."""

from __future__ import annotations

import threading

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from whatsapp_builder.db import migrate
from whatsapp_builder.db.alembic.env_filters import include_object
from whatsapp_builder.db.models import Base
from whatsapp_builder.db.urls import sqlalchemy_url


def _objects(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        }
        types = {
            r[0]
            for r in conn.execute(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                " WHERE n.nspname = 'public' AND t.typtype = 'e'"
            ).fetchall()
        }
        functions = {
            r[0]
            for r in conn.execute(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'public'"
            ).fetchall()
        }
    return {"tables": tables, "types": types, "functions": functions}


def test_upgrade_downgrade_upgrade(database_factory) -> None:  # type: ignore[no-untyped-def]
    url = database_factory.create()
    migrate.upgrade(url)
    assert "head" in migrate.current(url)
    assert {
        "users",
        "chatbots",
        "conversations",
        "conversation_participants",
        "messages",
        "conversation_contexts",
        "whatsapp_config",
    } <= _objects(url)["tables"]

    migrate.downgrade(url, "base")
    left = _objects(url)
    # Only Alembic's own (now empty) bookkeeping table remains.
    assert left["tables"] <= {"alembic_version"}
    assert left["types"] == set()
    assert left["functions"] == set()
    assert migrate.current(url) == ""

    migrate.upgrade(url)
    assert "head" in migrate.current(url)


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True, "include_object": include_object},
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_concurrent_upgrades_take_turns(database_factory) -> None:  # type: ignore[no-untyped-def]
    url = database_factory.create()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert "head" in migrate.current(url)


def test_chatbots_published_before_0016_keep_running_on_their_settings(  # type: ignore[no-untyped-def]
    database_factory,
) -> None:
    url = database_factory.create()
    migrate.upgrade(url, "0015_lean_job_triggers")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO chatbots (name, nodes, edges, metadata, "publishedNodes", "publishedEdges", "publishedAt")'
            " VALUES ('live', '[]', '[]', '{\"restartKeywords\": [\"again\"]}', '[]', '[]', now()),"
            " ('draft', '[]', '[]', '{\"restartKeywords\": [\"other\"]}', NULL, NULL, NULL)"
        )
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        rows = dict(conn.execute('SELECT name, "publishedMetadata" FROM chatbots').fetchall())
    assert rows == {"live": {"restartKeywords": ["again"]}, "draft": None}
