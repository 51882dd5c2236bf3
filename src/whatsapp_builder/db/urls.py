"""Database URLs: the user's `postgresql://` form and the driver-qualified forms SQLAlchemy needs."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def sqlalchemy_url(database_url: str) -> URL:
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {url.get_backend_name()}://")
    return url.set(drivername="postgresql+psycopg")


def libpq_url(database_url: str) -> str:
    """The same database as a plain libpq URL (for psycopg, procrastinate and pgbench)."""
    return sqlalchemy_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
