from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from whatsapp_builder.db.models import Base
from whatsapp_builder.db.urls import sqlalchemy_url

target_metadata = Base.metadata
# Tables that belong to the job queue's own schema, which its migrations install and Alembic must not compare.
FOREIGN_TABLE_PREFIXES = ("procrastinate_",)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "table" and name is not None and name.startswith(FOREIGN_TABLE_PREFIXES):
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", "") or ""
    return not table_name.startswith(FOREIGN_TABLE_PREFIXES)


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
