"""Resolving where the database is, shared by every command that needs one."""

from __future__ import annotations

from whatsapp_builder.db.embedded import start_embedded_postgres
from whatsapp_builder.settings import Settings


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the embedded server in the data folder (started or joined)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.resolved_data_dir)
