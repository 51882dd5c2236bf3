from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from whatsapp_builder.db.alembic.env_filters import include_object
from whatsapp_builder.db.models import Base
from whatsapp_builder.db.urls import sqlalchemy_url

target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    engine = create_engine(sqlalchemy_url(context.config.attributes["database_url"]), poolclass=NullPool)
    with engine.connect() as conn:
        run_with(conn)
        conn.commit()
    engine.dispose()
