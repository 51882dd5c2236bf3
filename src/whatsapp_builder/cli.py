"""The `whatsapp-builder` command. Each command only wires settings to a feature's function."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from whatsapp_builder.logging import configure_logging
from whatsapp_builder.settings import Settings

app = typer.Typer(
    help="WhatsApp Builder: chatbot flows on the WhatsApp Cloud API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")


def _settings() -> Settings:
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError: show it as a message, not a traceback
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def _database_url(settings: Settings) -> str:
    from whatsapp_builder.runtime import resolve_database_url

    try:
        return resolve_database_url(settings)
    except Exception as exc:
        typer.echo(f"error: cannot reach or start the database: {exc}", err=True)
        raise typer.Exit(1) from exc


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

    from whatsapp_builder.app import create_app
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.db import migrate

    settings = _settings()
    database_url = _database_url(settings)
    try:
        migrate.upgrade(database_url)
    except Exception as exc:
        raise _fail(f"migrations failed: {exc}") from exc
    context = AppContext.create(settings, database_url)
    application = create_app(context, own_context=True)
    application.state.run_workers = not no_workers
    typer.echo(f"WhatsApp Builder listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from whatsapp_builder.db import migrate

    settings = _settings()
    try:
        migrate.upgrade(_database_url(settings), revision)
    except Exception as exc:
        raise _fail(f"upgrade failed: {exc}") from exc
    typer.echo(f"upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to REVISION."""
    from whatsapp_builder.db import migrate

    settings = _settings()
    try:
        migrate.downgrade(_database_url(settings), revision)
    except Exception as exc:
        raise _fail(f"downgrade failed: {exc}") from exc
    typer.echo(f"downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    from whatsapp_builder.db import migrate

    settings = _settings()
    try:
        typer.echo(migrate.current(_database_url(settings)) or "(no revision: empty database)")
    except Exception as exc:
        raise _fail(f"cannot read the revision: {exc}") from exc


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option(help="A label for the token.")] = "cli") -> None:
    """Create an API token and print it alone on the last line."""
    from whatsapp_builder.auth.service import create_token
    from whatsapp_builder.core.context import AppContext
    from whatsapp_builder.db import migrate

    if not 1 <= len(name) <= 100:
        raise _fail("--name must be 1 to 100 characters", 2)
    settings = _settings()
    database_url = _database_url(settings)
    migrate.upgrade(database_url)

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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
