"""The `whatsapp-builder` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from whatsapp_builder.auth.service import hash_token


def run_cli(
    *args: str, database_url: str | None, tmp_path: Path, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "WAB_SECRET_KEY")}
    env["WAB_DATA_DIR"] = str(data_dir or tmp_path / "data")
    env["WAB_LOG_LEVEL"] = "WARNING"
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "whatsapp_builder", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_token_create_prints_the_token_alone_on_the_last_line(database_url: str, tmp_path: Path) -> None:
    result = run_cli("token", "create", "--name", "ci", database_url=database_url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("wab_") and " " not in token
    with psycopg.connect(database_url) as conn:
        row = conn.execute('SELECT name FROM api_tokens WHERE "tokenHash" = %s', (hash_token(token),)).fetchone()
    assert row == ("ci",)


def test_db_current_and_upgrade(database_url: str, tmp_path: Path) -> None:
    result = run_cli("db", "current", database_url=database_url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(head)" in result.stdout
    assert run_cli("db", "upgrade", database_url=database_url, tmp_path=tmp_path).returncode == 0


def test_bad_input_exits_non_zero_without_a_traceback(database_url: str, tmp_path: Path) -> None:
    too_long = run_cli("token", "create", "--name", "x" * 101, database_url=database_url, tmp_path=tmp_path)
    assert too_long.returncode != 0 and "Traceback" not in too_long.stderr
    unreachable = run_cli("db", "current", database_url="postgresql://nobody@127.0.0.1:1/none", tmp_path=tmp_path)
    assert unreachable.returncode != 0 and "Traceback" not in unreachable.stderr
    assert "error:" in unreachable.stderr
    not_postgres = run_cli("db", "current", database_url="mysql://x@localhost/db", tmp_path=tmp_path)
    assert not_postgres.returncode != 0 and "Traceback" not in not_postgres.stderr
    for args in (("token", "create"), ("db", "upgrade"), ("demo",)):
        wrong_url = run_cli(*args, database_url="mysql://x@localhost/db", tmp_path=tmp_path)
        assert wrong_url.returncode == 2 and "Traceback" not in wrong_url.stderr, args
        assert "postgresql://" in wrong_url.stderr
    # Bytes that are not UTF-8 (a Latin-1 terminal): one clear line, whichever command gets them.
    for args in (("token", "create", "--name", "a\udcffb"), ("simulator", "send", "--text", "a\udcffb")):
        not_utf8 = run_cli(*args, database_url=database_url, tmp_path=tmp_path)
        assert not_utf8.returncode == 2 and "Traceback" not in not_utf8.stderr, args
        assert "not valid UTF-8" in not_utf8.stderr
    bad_revision = run_cli("db", "downgrade", "nonsense", database_url=database_url, tmp_path=tmp_path)
    assert bad_revision.returncode != 0 and "Traceback" not in bad_revision.stderr
    unknown = run_cli("frobnicate", database_url=database_url, tmp_path=tmp_path)
    assert unknown.returncode != 0
    demo = json.loads((Path(__file__).parents[2] / "examples" / "demo-chatbot.json").read_text())
    nul_name = tmp_path / "nul.json"
    nul_name.write_text(json.dumps({**demo, "name": "Demo\u0000"}))
    refused = run_cli("chatbot", "import", str(nul_name), database_url=database_url, tmp_path=tmp_path)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr and "NUL" in refused.stderr


def test_embedded_postgres_stops_when_serve_is_terminated(tmp_path: Path) -> None:
    """SIGTERM (systemd, docker stop, a CI trap) ends `serve` as cleanly as Ctrl+C: the embedded PostgreSQL it
    started stops with it instead of being left running."""
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["WAB_DATA_DIR"] = str(tmp_path / "data")
    env["WAB_LOG_LEVEL"] = "WARNING"
    server = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_builder", "serve", "--port", str(port), "--no-workers"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    postmaster_pid = tmp_path / "data" / "postgres" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become healthy"
            time.sleep(0.2)
        assert postmaster_pid.exists()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        deadline = time.monotonic() + 30
        while postmaster_pid.exists():
            assert time.monotonic() < deadline, "the embedded PostgreSQL is still running after serve ended"
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if postmaster_pid.exists():  # left behind by a failure: do not leak a server into the machine
            os.kill(int(postmaster_pid.read_text().splitlines()[0]), signal.SIGTERM)


def test_serve_on_a_busy_port_fails_before_touching_the_running_server(database_url: str, tmp_path: Path) -> None:
    """`make run` started twice: the second must not revoke the first's sign-in link, nor say it is running."""
    import socket

    first = run_cli("token", "create", "--name", "sign-in link (serve)", database_url=database_url, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port), database_url=database_url, tmp_path=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "running" not in result.stdout
    with psycopg.connect(database_url) as conn:  # no sign-in link made, none revoked
        assert conn.execute('SELECT count(*), count("revokedAt") FROM api_tokens').fetchone() == (1, 0)


def test_the_embedded_database_prints_no_platform_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Containers and servers have no XDG_RUNTIME_DIR; a command's output should not be a library's warning."""
    import signal

    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)  # run_cli's child inherits os.environ
    result = run_cli("db", "current", database_url=None, tmp_path=tmp_path)
    postmaster_pid = tmp_path / "data" / "postgres" / "postmaster.pid"
    if postmaster_pid.exists():  # it stops with its last user; never leak one into the machine
        os.kill(int(postmaster_pid.read_text().splitlines()[0]), signal.SIGTERM)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "XDG_RUNTIME_DIR" not in result.stderr, result.stderr
    # Where the new database is made is said (once): a command run from another folder would make another one.
    assert f"creating a new embedded PostgreSQL in {tmp_path / 'data' / 'postgres'}" in result.stderr


def test_a_redis_url_that_is_no_redis_url_stops_the_start(database_url: str, tmp_path: Path) -> None:
    """A typo would otherwise start a server whose events reach no other process."""
    env_before = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = "notaurl"
    try:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        result = run_cli("serve", "--port", str(port), database_url=database_url, tmp_path=tmp_path)
    finally:
        if env_before is None:
            del os.environ["REDIS_URL"]
        else:
            os.environ["REDIS_URL"] = env_before
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "REDIS_URL must be a redis://" in result.stderr


def test_settings_and_arguments_that_cannot_work_are_one_line_each(database_url: str, tmp_path: Path) -> None:
    """Found by the bad-input audit: each of these printed a traceback, or succeeded doing nothing."""
    unwritable = tmp_path / "file"
    unwritable.write_text("not a folder")
    for args in (("token", "create"), ("demo",)):
        env_dir = run_cli(*args, database_url=database_url, tmp_path=tmp_path, data_dir=unwritable / "sub")
        assert env_dir.returncode == 1 and "Traceback" not in env_dir.stderr, (args, env_dir.stderr)
        assert "WAB_DATA_DIR" in env_dir.stderr
    dead = run_cli("token", "create", database_url="postgresql://nobody@127.0.0.1:1/none", tmp_path=tmp_path)
    assert dead.returncode == 1 and "Traceback" not in dead.stderr and "error:" in dead.stderr
    blank = run_cli("token", "create", "--name", "   ", database_url=database_url, tmp_path=tmp_path)
    assert blank.returncode == 2 and "only spaces" in blank.stderr
    for args in (("db", "downgrade", ""), ("db", "upgrade", " "), ("chatbot", "import", "")):
        empty = run_cli(*args, database_url=database_url, tmp_path=tmp_path)
        assert empty.returncode == 2 and "give" in empty.stderr, (args, empty.stderr)
    beyond = run_cli("db", "upgrade", "heads+5", database_url=database_url, tmp_path=tmp_path)
    assert beyond.returncode == 1 and beyond.stderr.strip() != "error: upgrade failed:", beyond.stderr


def test_db_downgrade_one_step_and_back(database_factory: Any, tmp_path: Path) -> None:
    """`db downgrade -1` as docs/schema.md writes it (click took "-1" for an unknown option), and the output says
    where the database is, also after an "upgrade" to a revision it is already past."""
    url = database_factory.create()
    assert "(head)" in run_cli("db", "upgrade", database_url=url, tmp_path=tmp_path).stdout
    back = run_cli("db", "downgrade", "-1", database_url=url, tmp_path=tmp_path)
    assert back.returncode == 0, back.stderr
    assert "(head)" not in back.stdout and back.stdout.startswith("now at ")
    again = run_cli("db", "upgrade", "+1", database_url=url, tmp_path=tmp_path)
    assert again.returncode == 0 and "(head)" in again.stdout, again.stderr
    past = run_cli("db", "upgrade", back.stdout.split()[-1], database_url=url, tmp_path=tmp_path)
    assert past.returncode == 0 and "(head)" in past.stdout


def test_a_worker_outlives_a_database_outage_and_stops_cleanly_on_sigterm(
    database_factory: Any, tmp_path: Path
) -> None:
    """A PostgreSQL restart or failover stopped a `worker` for good (procrastinate stops a worker whose LISTEN
    connection fails), and it exited 0, so `Restart=on-failure` left nobody doing jobs. SIGTERM, which service
    managers send, killed it without its graceful stop."""
    import contextlib
    import queue
    import signal
    import socket
    import threading
    import time

    import httpx
    from psycopg.conninfo import conninfo_to_dict

    from tests.conftest import with_database
    from whatsapp_builder.db import migrate

    database_url = database_factory.create()  # its own: the outage must not reach the other tests' connections
    migrate.upgrade(database_url)
    name = str(conninfo_to_dict(database_url)["dbname"])
    admin_url = with_database(database_url, "postgres")  # (a socket URL, for the embedded server, has a query)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "WAB_SECRET_KEY")}
    env |= {"WAB_DATA_DIR": str(tmp_path / "data"), "WAB_LOG_LEVEL": "WARNING", "DATABASE_URL": database_url}
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        health_port = free.getsockname()[1]
    worker = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_builder", "worker", "--health-port", str(health_port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert worker.stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in worker.stderr], daemon=True).start()  # type: ignore[union-attr]

    def wait_for_line(text: str, limit: float = 60, *, running: bool = True) -> None:
        deadline = time.monotonic() + limit
        while not any(text in line for line in seen):
            assert not running or worker.poll() is None, "".join(seen)
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.2))

    def registered_workers() -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        return int(row[0]) if row else 0

    def wait_registered(count: int) -> None:
        deadline = time.monotonic() + 60
        while registered_workers() != count:
            assert time.monotonic() < deadline, "".join(seen)
            time.sleep(0.1)

    def health() -> tuple[int, dict[str, str]]:  # `worker --health-port`, as a service manager probes it
        answer = httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=5)
        return answer.status_code, answer.json()

    try:
        wait_for_line("worker running")
        wait_registered(1)
        assert health() == (200, {"status": "ok", "database": "ok", "jobs": "running"})
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                status, body = health()
                assert status == 503 and body["database"] == "unreachable", body
                wait_for_line("stopping worker")  # procrastinate's own word: its LISTEN connection is gone
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        wait_for_line("job worker stopped; starting it again", limit=120)
        assert worker.poll() is None  # still there, and doing jobs again once it could reconnect:
        with psycopg.connect(database_url) as conn:  # (its registration of before the outage, left behind)
            conn.execute("DELETE FROM procrastinate_workers")
        wait_registered(1)
        assert health()[0] == 200
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        wait_for_line("worker stopped", limit=10, running=False)
        assert registered_workers() == 0  # it unregistered: the graceful stop ran
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_worker_with_another_secret_key_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    """A host without the deployment's WAB_SECRET_KEY (it makes its own) cannot read the access token: every send
    and read receipt it took failed for good, and the messages stayed pending with no error shown."""
    saved = run_cli("demo", database_url=database_url, tmp_path=tmp_path, data_dir=tmp_path / "first-host")
    assert saved.returncode == 0, saved.stderr
    other = run_cli("worker", database_url=database_url, tmp_path=tmp_path, data_dir=tmp_path / "second-host")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "WAB_SECRET_KEY" in other.stderr and "worker running" not in other.stderr


def test_a_worker_that_meets_a_config_saved_with_another_key_stops_and_leaves_its_jobs(
    database_factory: Any, tmp_path: Path
) -> None:
    """A worker started before any WhatsApp config existed cannot check its key at the start: the config saved
    later by a process with another WAB_SECRET_KEY made it fail every send it took, for good."""
    import asyncio
    import hashlib
    import hmac
    import json
    import time

    import httpx

    from whatsapp_builder.app import create_app
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.db import migrate
    from whatsapp_builder.settings import Settings

    database_url = database_factory.create()
    migrate.upgrade(database_url)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "WAB_SECRET_KEY")}
    env |= {"WAB_DATA_DIR": str(tmp_path / "worker-host"), "WAB_LOG_LEVEL": "WARNING", "DATABASE_URL": database_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_builder", "worker"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert worker.stderr is not None
        assert "worker running" in worker.stderr.readline()  # no config yet: nothing to check
        server_host = tmp_path / "server-host"
        assert run_cli("demo", database_url=database_url, tmp_path=tmp_path, data_dir=server_host).returncode == 0
        key = (server_host / "secret.key").read_text().strip()

        async def customer_says_hi() -> None:
            settings = Settings(database_url=database_url, data_dir=server_host, secret_key=key, log_level="WARNING")
            context = AppContext.create(settings, database_url)
            context.hand_fresh_jobs_to_workers()  # as `serve --no-workers`: the worker runs the flow
            try:
                body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                    "field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550000001", "phone_number_id": "100000000000001"},
                        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551230000"}],
                        "messages": [{"from": "15551230000", "id": "wamid.KEYS", "timestamp": str(int(time.time())),
                                      "type": "text", "text": {"body": "hi"}}]}}]}]}).encode()
                signature = "sha256=" + hmac.new(b"demo-app-secret", body, hashlib.sha256).hexdigest()
                transport = httpx.ASGITransport(app=create_app(context))
                async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                    response = await client.post("/webhooks/whatsapp", content=body,
                                                 headers={"X-Hub-Signature-256": signature})
                assert response.status_code == 200, response.text
            finally:
                await context.close()

        asyncio.run(customer_says_hi())
        assert worker.wait(timeout=60) == 2
        stderr = worker.stderr.read()
        assert "WAB_SECRET_KEY" in stderr and "Traceback" not in stderr, stderr
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    with psycopg.connect(database_url) as conn:
        replies = conn.execute("SELECT status::text FROM messages WHERE direction = 'outbound'").fetchall()
        jobs = conn.execute("SELECT status::text FROM procrastinate_jobs WHERE task_name = 'deliver_message'").fetchall()
    # The flow's replies wait, queued, for a worker that can read the config: none was sent, none failed.
    assert replies and {r[0] for r in replies} == {"pending"} and {j[0] for j in jobs} == {"todo"}, (replies, jobs)
