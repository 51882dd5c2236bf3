"""The `whatsapp-builder` command. Each command only wires settings to a feature's function."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from whatsapp_builder.logging import configure_logging
from whatsapp_builder.settings import Settings
from whatsapp_builder.simulator.cli import simulator_app

if TYPE_CHECKING:
    from whatsapp_builder.chatbots.schemas import ChatbotExport
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.flows.validation import Problem

KEEP_ALIVE_SECONDS = 75

app = typer.Typer(
    help="WhatsApp Builder: chatbot flows on the WhatsApp Cloud API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
chatbot_app = typer.Typer(help="Chatbots as JSON files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(chatbot_app, name="chatbot")
app.add_typer(simulator_app, name="simulator", help="The offline stand-in for Meta's Cloud API.")


def _settings() -> Settings:
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError: show it as a message, not a traceback
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def _database_url(settings: Settings) -> str:
    from sqlalchemy.exc import ArgumentError

    from whatsapp_builder.db.urls import sqlalchemy_url
    from whatsapp_builder.runtime import resolve_database_url

    if settings.database_url:
        try:
            sqlalchemy_url(settings.database_url)
        except (ValueError, ArgumentError) as exc:
            typer.echo(f"error: DATABASE_URL is not a postgresql:// URL: {exc}", err=True)
            raise typer.Exit(2) from None
    try:
        return resolve_database_url(settings)
    except Exception as exc:
        typer.echo(f"error: cannot reach or start the database: {exc}", err=True)
        raise typer.Exit(1) from exc


def _migration_error(exc: Exception, revision: str) -> str:
    # Alembic says nothing (a bare AssertionError) for a step beyond the head or below base.
    return str(exc) or f"cannot go to {revision!r} from here ({type(exc).__name__})"


# The most a stopping `worker` waits for its fresh-job lane (whose own drain and stop take up to 10 s each).
STOP_WAIT_SECONDS = 25.0


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _warn_each(problems: Sequence[Problem]) -> None:
    for p in problems:
        where = p.node_id or p.edge_id or p.field
        typer.echo(f"  - {where}: {p.message}" if where else f"  - {p.message}", err=True)


def _problems(count: int, noun: str = "problem") -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    no_workers: Annotated[bool, typer.Option("--no-workers", help="Run no background jobs here.")] = False,
) -> None:
    """Run the HTTP API, webhooks and web UI (with the workers unless --no-workers)."""
    import uvicorn

    from whatsapp_builder.app import create_asgi
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.core.runtime import tune_garbage_collector
    from whatsapp_builder.db import migrate

    # The port first: a second `serve` on a busy port must stop before it touches the database.
    listener = _listen(host, port)
    settings = _settings()
    database_url = _database_url(settings)
    try:
        migrate.upgrade(database_url)
    except Exception as exc:
        raise _fail(f"migrations failed: {exc}") from exc
    from whatsapp_builder.auth.service import sign_in_token
    from whatsapp_builder.whatsapp.config_service import unreadable_secrets

    async def link_token() -> str:
        link_context = AppContext.create(settings, database_url)
        try:
            async with link_context.sessions() as session:
                unreadable = await unreadable_secrets(session, link_context.secrets)
                if unreadable is not None:
                    # Started all the same: saving the config again on the Settings page is one way out.
                    typer.echo(
                        f"warning: {unreadable}: webhooks and sends fail until this process has the key the config"
                        " was saved with (WAB_SECRET_KEY), or the config is saved again on the Settings page",
                        err=True,
                    )
                return await sign_in_token(session, settings.resolved_data_dir)
        finally:
            await link_context.close()

    token = asyncio.run(link_token())
    context = AppContext.create(settings, database_url)
    if no_workers:
        context.hand_fresh_jobs_to_workers()
    application = create_asgi(context, own_context=True, run_workers=not no_workers)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(
        f"\nWhatsApp Builder is running.\n"
        f"  Open (signs you in): http://{shown_host}:{port}/login#token={token}\n"
        f"  API docs:            http://{shown_host}:{port}/docs\n"
        f"  WhatsApp webhook:    http://{shown_host}:{port}/webhooks/whatsapp\n"
    )
    tune_garbage_collector()
    # Idle keep-alive connections stay open 75 s (uvicorn's default is 5 s): longer than load balancers' and
    # webhook senders' idle timeouts (60 s is common), so they never reuse a connection the server just closed,
    # which loses that request ("connection reset").
    config = uvicorn.Config(
        application, host=host, port=port, log_config=None, access_log=False, timeout_keep_alive=KEEP_ALIVE_SECONDS
    )
    uvicorn.Server(config).run(sockets=[listener])


def _listen(host: str, port: int, *, what: str = "whatsapp-builder serve", option: str = "--port") -> socket.socket:
    """A listening socket on host:port, or a clear error when the port is taken or the address is not ours."""
    from whatsapp_builder.core.listen import PortUnavailable, listen

    try:
        return listen(host, port, what=what, option=option)
    except PortUnavailable as exc:
        raise _fail(str(exc)) from None


@db_app.command("upgrade", context_settings={"ignore_unknown_options": True})
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from whatsapp_builder.db import migrate

    if not revision.strip():
        raise _fail("give a revision: e.g. head, +1, or an id", 2)
    database_url = _database_url(_settings())
    try:
        migrate.upgrade(database_url, revision)
    except Exception as exc:
        raise _fail(f"upgrade failed: {_migration_error(exc, revision)}") from exc
    # Said as it is: an upgrade "to" a revision the database is already past changes nothing.
    typer.echo(f"now at {migrate.current(database_url) or revision}")


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to REVISION."""
    from whatsapp_builder.db import migrate

    if not revision.strip():
        raise _fail("give a revision: e.g. -1, base, or an id from `db current`", 2)
    database_url = _database_url(_settings())
    try:
        migrate.downgrade(database_url, revision)
    except Exception as exc:
        raise _fail(f"downgrade failed: {_migration_error(exc, revision)}") from exc
    typer.echo(f"now at {migrate.current(database_url) or 'base (no revision)'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    from whatsapp_builder.db import migrate

    database_url = _database_url(_settings())
    try:
        typer.echo(migrate.current(database_url) or "(no revision: empty database)")
    except Exception as exc:
        raise _fail(f"cannot read the revision: {exc}") from exc


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option(help="A label for the token.")] = "cli") -> None:
    """Create an API token and print it alone on the last line."""
    from whatsapp_builder.auth.service import create_token
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.db import migrate

    name = name.strip()  # as the API does: a name of only spaces is no name
    if not 1 <= len(name) <= 100:
        raise _fail("--name must be 1 to 100 characters, not only spaces", 2)
    settings = _settings()
    database_url = _database_url(settings)
    try:
        migrate.upgrade(database_url)
    except Exception as exc:
        raise _fail(f"migrations failed: {exc}") from exc

    async def run() -> str:
        context = AppContext.create(settings, database_url)
        try:
            async with context.sessions() as session:
                _, token = await create_token(session, name)
                await session.commit()
                return token
        finally:
            await context.close()

    token = asyncio.run(run())
    typer.echo("Created an API token. Keep it: it is not shown again.", err=True)
    typer.echo(token)


T = TypeVar("T")


def _with_context(settings: Settings, work: Callable[[AppContext], Awaitable[T]]) -> T:
    """Migrate, open a context, run `work` in it, close it."""
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.db import migrate

    database_url = _database_url(settings)
    try:
        migrate.upgrade(database_url)
    except Exception as exc:
        raise _fail(f"migrations failed: {exc}") from exc

    async def run() -> T:
        context = AppContext.create(settings, database_url)
        try:
            return await work(context)
        finally:
            await context.close()

    from sqlalchemy.exc import DBAPIError

    try:
        return asyncio.run(run())
    except DBAPIError as exc:
        # Bad input (text holding U+0000, a value too long) or a database gone: a message, not a traceback.
        raise _fail(f"the database refused it: {str(exc.orig).splitlines()[0]}") from exc


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default WAB_WORKER_CONCURRENCY).", min=1, max=500)
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            help="Also answer GET /healthz on this port (200 when the database answers and the job loop runs,"
            " else 503), for a service manager's probes.",
            min=1,
            max=65535,
        ),
    ] = None,
    health_host: Annotated[str, typer.Option(help="The address --health-port listens on.")] = "127.0.0.1",
) -> None:
    """Run background jobs only (flow steps, deliveries, delays); run any number of these."""
    from whatsapp_builder.core.crypto import SecretKeyMismatch
    from whatsapp_builder.core.runtime import tune_garbage_collector
    from whatsapp_builder.jobs.health import JobLoopState, serve_health
    from whatsapp_builder.jobs.lane_lag import report_lane_lag
    from whatsapp_builder.jobs.tasks import keep_worker_running, register_tasks
    from whatsapp_builder.realtime.server import create_publisher_for_worker
    from whatsapp_builder.whatsapp.config_service import unreadable_secrets
    from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane

    settings = _settings()
    tune_garbage_collector()
    # The port first, as `serve` does: a busy one stops the start before anything else.
    probe = (
        _listen(health_host, health_port, what="whatsapp-builder worker", option="--health-port")
        if health_port is not None
        else None
    )
    job_loop = JobLoopState()

    async def work(context: AppContext) -> None:
        context.publisher = create_publisher_for_worker(settings)
        # Like `serve`: replies of the flow jobs this worker runs are delivered at once, batched (whatsapp/fast_path.py).
        context.enable_fast_path()
        register_tasks(context)
        await context.open()
        async with context.sessions() as session:
            unreadable = await unreadable_secrets(session, context.secrets)
        if unreadable is not None:
            # Every send and read receipt it took would fail: better no worker than one that loses them.
            raise _fail(f"{unreadable}: give every process the same WAB_SECRET_KEY (docs/deploy.md)", 2)
        # SIGTERM (systemd, Docker, Kubernetes) stops it as Ctrl+C does: no new jobs, the running ones finish.
        main = asyncio.current_task()
        assert main is not None

        def stop_on_key_mismatch(exc: SecretKeyMismatch) -> None:
            # A config saved after this worker started, by a process with another key: as at the start, this
            # worker stops (its jobs are retried, by a worker that can read it); the stop runs gracefully.
            if not key_mismatch:
                key_mismatch.append(str(exc))
                main.cancel()

        context.active_config.on_key_mismatch = stop_on_key_mismatch
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        typer.echo("worker running (Ctrl+C or SIGTERM to stop)", err=True)
        # Beside procrastinate's workers: the fresh jobs of `serve --no-workers` processes, many per transaction.
        lane = asyncio.create_task(FreshJobLane(context, poll_seconds=settings.worker_poll_seconds).run())
        # How far behind that lane is, for those processes' grace (jobs/lane_lag.py).
        report = asyncio.create_task(
            report_lane_lag(context, f"{socket.gethostname()}:{os.getpid()}", context.fast_path_lag)
        )
        side_tasks = {lane, report}
        if probe is not None:
            side_tasks.add(asyncio.create_task(serve_health(context, job_loop, probe)))
        try:
            await keep_worker_running(context, concurrency=concurrency, name="worker", state=job_loop)
        finally:
            for task in side_tasks:
                task.cancel()
            # The lane lets its batches under way finish, for a while; never wait for ever (a stop must end).
            await asyncio.wait(side_tasks, timeout=STOP_WAIT_SECONDS)
            close = getattr(context.publisher, "close", None)
            if close is not None:
                await close()

    key_mismatch: list[str] = []
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):  # Ctrl+C, SIGTERM: asked to stop
        _with_context(settings, work)
    if key_mismatch:
        raise _fail(
            f"{key_mismatch[0]}: this worker stopped, its jobs wait for a worker that can read the WhatsApp config"
            " (give every process the same WAB_SECRET_KEY, docs/deploy.md)",
            2,
        )
    typer.echo("worker stopped", err=True)


@app.command()
def demo(
    simulator_url: Annotated[
        str | None,
        typer.Option(
            help="Where the simulator listens (default http://127.0.0.1:8081 for a new config). Given, it also"
            " re-points an existing demo config and restores its simulator credentials (make run passes SIMULATOR_PORT's)."
        ),
    ] = None,
) -> None:
    """Create, if absent, the demo WhatsApp config (using the simulator) and the demo chatbot, active."""
    from pydantic import ValidationError

    from whatsapp_builder.demo import DEFAULT_SIMULATOR_URL, install_demo

    settings = _settings()
    given = simulator_url is not None
    simulator_url = simulator_url or DEFAULT_SIMULATOR_URL
    try:
        result = _with_context(settings, lambda context: install_demo(context, simulator_url, moved=given))
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise _fail(f"--simulator-url {simulator_url!r} is not an http(s) URL the server can call: {reason}") from None
    if result.config_moved:
        typer.echo(f"pointed the demo WhatsApp config at {simulator_url}", err=True)
    elif result.other_number is not None:
        typer.echo(
            f"kept the WhatsApp config of number {result.other_number}: it is connected, not the demo's, so the"
            " simulator cannot talk to this server (DELETE /api/whatsapp-config, then run demo again, to use it)",
            err=True,
        )
    else:
        typer.echo(("created" if result.config_created else "kept") + " the WhatsApp config", err=True)
    typer.echo(("created" if result.chatbot_created else "kept") + f" the demo chatbot ({result.chatbot_id})", err=True)
    typer.echo(result.chatbot_id)  # alone on stdout, for scripts


def _read_chatbot_file(name: str, cap: int) -> ChatbotExport:
    """Read and check a chatbot file; every problem is an `error: ...` message and exit 1, never a traceback."""
    import json

    from pydantic import ValidationError

    from whatsapp_builder.chatbots.schemas import ChatbotExport
    from whatsapp_builder.core.files import UnreadableFile, read_regular_file

    if not name.strip():
        raise _fail("give the path of a chatbot file", 2)
    try:
        # Not a plain open(): a named pipe would wait for a writer forever, a device read without end.
        raw = read_regular_file(name, cap)
    except UnreadableFile as exc:
        raise _fail(exc.message) from None
    if len(raw) > cap:
        raise _fail(f"{name} is larger than {cap} bytes, the API's import limit (WAB_API_MAX_BODY)")
    try:
        text = raw.decode("utf-8-sig")  # an editor's byte order mark is fine
    except UnicodeDecodeError as exc:
        raise _fail(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not a JSON value")

    try:
        document = json.loads(text, parse_constant=no_constants)
    except RecursionError as exc:
        raise _fail(f"{name} is nested too deeply to be a chatbot file") from exc
    except ValueError as exc:
        raise _fail(f"{name} is not JSON: {exc}") from exc
    try:
        return ChatbotExport.model_validate(document)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        lines = "".join(
            f"\n  {'.'.join(str(part) for part in problem['loc']) or '(file)'}: "
            + str(problem["msg"]).removeprefix("Value error, ").replace("\n", " ")
            for problem in problems
        )
        raise _fail(f"{name} is not a chatbot file ({len(problems)} problem(s)):{lines}") from exc


@chatbot_app.command("import")
def chatbot_import(
    file: Annotated[str, typer.Argument(metavar="FILE", help="A chatbot JSON file (as exported).")],
    activate: Annotated[bool, typer.Option("--activate", help="Publish it and switch it on.")] = False,
) -> None:
    """Create a chatbot from a JSON file; prints its id alone on the last line."""
    from whatsapp_builder.chatbots.service import import_chatbot, keyword_conflicts
    from whatsapp_builder.core.errors import AppError

    settings = _settings()
    # The API's body cap: what the CLI imports, the API can export and import again.
    data = _read_chatbot_file(file, settings.api_max_body_bytes)

    async def work(context: AppContext) -> str:
        async with context.sessions() as session:
            chatbot, report = await import_chatbot(session, data, activate=activate)
            report.warnings.extend(await keyword_conflicts(session, chatbot))
        # Stored as a draft whatever it holds (as the API and the web UI import): say what to fix before publishing.
        if report.errors:
            _warn(f"imported as a draft with {_problems(len(report.errors))} to fix before it can be published:")
            _warn_each(report.errors)
        if report.warnings:
            warnings = _problems(len(report.warnings), "warning")
            if activate:
                _warn(f"published with {warnings}:")
            elif report.errors:
                _warn(f"and {warnings}:")
            else:
                _warn(f"{warnings} (it can be published as it is):")
            _warn_each(report.warnings)
        return str(chatbot.id)

    try:
        typer.echo(_with_context(settings, work))
    except AppError as exc:
        details = "".join(
            f"\n  - {where}: {d.get('message')}" if where else f"\n  - {d.get('message')}"
            for d in exc.details
            if isinstance(d, dict)
            for where in [d.get("nodeId") or d.get("edgeId") or d.get("field") or ""]
        )
        raise _fail(f"{exc.message}{details}") from exc


@chatbot_app.command("export")
def chatbot_export(
    chatbot_id: Annotated[str, typer.Argument(help="The chatbot's id.")],
    file: Annotated[str | None, typer.Argument(help="Where to write (default: stdout).")] = None,
) -> None:
    """Write a chatbot as JSON (the format `chatbot import` and the API read)."""
    import json
    import uuid

    from whatsapp_builder.chatbots.service import export_chatbot, get_chatbot
    from whatsapp_builder.core.errors import AppError

    try:
        wanted = uuid.UUID(chatbot_id)
    except ValueError as exc:
        raise _fail(f"{chatbot_id!r} is not a chatbot id", 2) from exc
    settings = _settings()

    async def work(context: AppContext) -> dict[str, object]:
        async with context.sessions() as session:
            return export_chatbot(await get_chatbot(session, wanted))

    try:
        data = _with_context(settings, work)
    except AppError as exc:
        raise _fail(exc.message) from exc
    except RecursionError as exc:  # a row stored before nesting was limited, too deep even to load
        raise _fail("the chatbot is nested too deeply to be exported") from exc
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if file is None:
        typer.echo(text, nl=False)
    else:
        from pathlib import Path

        # Opened only now, by us: a path that cannot be written is an `error:` line, and the file is not created or
        # emptied when the chatbot does not exist.
        try:
            Path(file).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {file}: {exc.strerror or exc}") from exc


def main() -> None:
    # Bytes the terminal's encoding cannot decode reach argv as lone surrogates, which no database, HTTP body
    # or file here can hold: one clear message instead of an encoder's traceback further down.
    for position, argument in enumerate(sys.argv[1:], start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            typer.echo(f"error: argument {position} is not valid UTF-8 text", err=True)
            sys.exit(2)
    from whatsapp_builder.settings import DataDirUnusable

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except DataDirUnusable as exc:  # wherever a command first needed the folder
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
