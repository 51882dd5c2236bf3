"""``whatsapp-builder simulator``: run the Cloud API simulator, or make a simulated customer write."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer

from whatsapp_builder.core.files import UnreadableFile, read_regular_file
from whatsapp_builder.core.runtime import tune_garbage_collector
from whatsapp_builder.simulator.media import IMAGE_TYPES, MAX_IMAGE_BYTES
from whatsapp_builder.simulator.settings import SimulatorSettings

simulator_app = typer.Typer(
    help="The offline stand-in for Meta's WhatsApp Cloud API.",
    no_args_is_help=False,
    add_completion=False,
)

_DEFAULTS = SimulatorSettings()


@simulator_app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(envvar="WAB_SIMULATOR_HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="WAB_SIMULATOR_PORT", help="Port to listen on.")] = 8081,
    webhook_url: Annotated[
        str, typer.Option(envvar="WAB_SIMULATOR_WEBHOOK_URL", help="Where status and inbound webhooks go.")
    ] = _DEFAULTS.webhook_url,
    app_secret: Annotated[
        str, typer.Option(envvar="WAB_SIMULATOR_APP_SECRET", help="Key of the X-Hub-Signature-256 HMAC.")
    ] = _DEFAULTS.app_secret,
    access_token: Annotated[
        str, typer.Option(envvar="WAB_SIMULATOR_ACCESS_TOKEN", help="The only bearer token accepted.")
    ] = _DEFAULTS.access_token,
    phone_number_id: Annotated[
        str, typer.Option(envvar="WAB_SIMULATOR_PHONE_NUMBER_ID", help="The business phone number id.")
    ] = _DEFAULTS.phone_number_id,
    status_delay: Annotated[
        float,
        typer.Option(
            envvar="WAB_SIMULATOR_STATUS_DELAY", min=0.0, metavar="SECONDS", help="Seconds between status webhooks."
        ),
    ] = 0.0,
    history_limit: Annotated[
        int,
        typer.Option(
            envvar="WAB_SIMULATOR_HISTORY_LIMIT",
            min=1,
            metavar="N",
            help="Sends kept for GET /_simulator/messages (oldest go).",
        ),
    ] = _DEFAULTS.history_limit,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log",  # one name: a second column of names cut the other options' help short
            envvar="WAB_SIMULATOR_ACCESS_LOG",
            help="Print a line for every HTTP request (off: under load it costs CPU and floods the terminal).",
        ),
    ] = False,
) -> None:
    """Run the simulator (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from whatsapp_builder.core.listen import PortUnavailable, listen
    from whatsapp_builder.simulator.app import create_simulator_app

    parts = urlsplit(webhook_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(
            "must be an http(s) URL, e.g. http://127.0.0.1:8000/webhooks/whatsapp", param_hint="--webhook-url"
        )
    if not 1 <= port <= 65535:
        raise typer.BadParameter("must be 1 to 65535", param_hint="--port")
    try:
        listener = listen(host, port, what="simulator")
    except PortUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    settings = SimulatorSettings(
        webhook_url=webhook_url,
        app_secret=app_secret,
        access_token=access_token,
        phone_number_id=phone_number_id,
        status_delay_seconds=status_delay,
        history_limit=history_limit,
    )
    typer.echo(f"WhatsApp Cloud API simulator on http://{host}:{port} -> webhooks to {webhook_url}")
    application = create_simulator_app(settings)
    tune_garbage_collector()
    config = uvicorn.Config(application, host=host, port=port, log_level="info", access_log=access_log)
    uvicorn.Server(config).run(sockets=[listener])


DEFAULT_CUSTOMER_NUMBER = "+15551234567"


def _pair(value: str, option: str) -> dict[str, str]:
    ident, sep, title = value.partition(":")
    if not sep or not ident.strip() or not title.strip():
        raise typer.BadParameter(f"expected ID:TITLE, got {value!r}", param_hint=option)
    return {"id": ident.strip(), "title": title.strip()}


def _upload(simulator_url: str, path: Path) -> str:
    """Upload a file the customer will send; its media id."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if mime not in IMAGE_TYPES:
        raise typer.BadParameter(f"{path.name} is not a JPEG or PNG image ({mime})", param_hint="--image")
    try:
        # Not path.read_bytes(): a named pipe would wait for a writer forever, a link to /dev/zero read without end.
        photo = read_regular_file(str(path), MAX_IMAGE_BYTES)
    except UnreadableFile as exc:
        raise typer.BadParameter(exc.message, param_hint="--image") from None
    if len(photo) > MAX_IMAGE_BYTES:
        raise typer.BadParameter(
            f"at most {MAX_IMAGE_BYTES} bytes (WhatsApp's limit for an image)", param_hint="--image"
        )
    try:
        response = httpx.post(
            simulator_url.rstrip("/") + "/_simulator/media",
            content=photo,
            headers={"Content-Type": mime},
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the simulator at {simulator_url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 201:
        typer.echo(f"error: the simulator did not take the file: HTTP {response.status_code} {response.text}", err=True)
        raise typer.Exit(1)
    return str(response.json()["id"])


@simulator_app.command("send")
def send(
    simulator_url: Annotated[
        str, typer.Option(envvar="WAB_SIMULATOR_URL", help="Base URL of a running simulator.")
    ] = "http://127.0.0.1:8081",
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="The customer's phone number (default +15551234567; with --user-id, none: a customer known only"
            " by that id, as WhatsApp sends for one who hides their number).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The customer's profile name (left out by default, so a known customer keeps theirs)."),
    ] = None,
    user_id: Annotated[str | None, typer.Option(help="The customer's business-scoped user id.")] = None,
    text: Annotated[str | None, typer.Option(help="Send a text message.")] = None,
    button: Annotated[str | None, typer.Option(help="Press a reply button: ID:TITLE.")] = None,
    list_row: Annotated[str | None, typer.Option(help="Pick a list row: ID:TITLE.")] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            help="Send a photo: this file is uploaded to the simulator, which serves it to the server as WhatsApp"
            " serves media (by id, with the access token).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    caption: Annotated[str | None, typer.Option(help="The photo's caption (with --image).")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Quote this WhatsApp message id.")] = None,
    welcome: Annotated[
        bool, typer.Option("--welcome", help="Open the chat for the first time (WhatsApp's request_welcome).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the simulator's answer as JSON instead of a line for people.")
    ] = False,
) -> None:
    """Make a simulated customer send a message (through a running simulator) and say what was sent, to which
    number, with which WhatsApp message id (`--json`: the simulator's answer as it is)."""
    chosen = [x for x in (text, button, list_row, image, True if welcome else None) if x is not None]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --text, --button, --list-row, --image, --welcome")
    if caption is not None and image is None:
        raise typer.BadParameter("goes with --image", param_hint="--caption")
    if from_ is not None and not from_.strip():
        raise typer.BadParameter(
            "must not be empty (leave it out, with --user-id, for no phone number)", param_hint="--from"
        )
    body: dict[str, Any] = {}
    if from_ is not None:
        body["from"] = from_
    elif not user_id:
        body["from"] = DEFAULT_CUSTOMER_NUMBER
    if name is not None:
        body["name"] = name
    if user_id:
        body["userId"] = user_id
    if reply_to:
        body["contextMessageId"] = reply_to
    if welcome:
        body["requestWelcome"] = True
    elif text is not None:
        if not text:
            raise typer.BadParameter("must not be empty", param_hint="--text")
        body["text"] = text
    elif button is not None:
        body["buttonReply"] = _pair(button, "--button")
    elif list_row is not None:
        body["listReply"] = _pair(list_row, "--list-row")
    elif image is not None:
        body["image"] = {"id": _upload(simulator_url, image)} | ({"caption": caption} if caption else {})
    url = simulator_url.rstrip("/") + "/_simulator/inbound"
    try:
        response = httpx.post(url, json=body, timeout=30.0)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the simulator at {simulator_url}: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        result: Any = response.json()
    except ValueError:
        result = {"raw": response.text}
    if response.status_code == 422 and isinstance(result, dict) and isinstance(result.get("detail"), list):
        # The simulator refused the message (FastAPI's validation answer): one line per problem, not its JSON.
        for problem in result["detail"]:
            where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") if isinstance(problem, dict) else ""
            message = (
                str(problem.get("msg", problem)).removeprefix("Value error, ") if isinstance(problem, dict) else problem
            )
            typer.echo(f"error: {where + ': ' if where else ''}{message}", err=True)
        raise typer.Exit(1)
    if json_output:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    if not response.is_success:
        why = result.get("error") if isinstance(result, dict) and not json_output else None
        typer.echo(f"error: the simulator answered HTTP {response.status_code}{f': {why}' if why else ''}", err=True)
        raise typer.Exit(1)
    status = result.get("status") if isinstance(result, dict) else None
    try:
        stored: Any = json.loads(result.get("body") or "null") if isinstance(result, dict) else None
    except ValueError:
        stored = None
    if not isinstance(status, int) or not 200 <= status < 300:
        why = _webhook_error(stored) if not json_output else None
        typer.echo(f"error: the webhook answered {status}{f': {why}' if why else ''}", err=True)
        raise typer.Exit(1)
    if isinstance(stored, dict) and stored.get("messages") == 0 and stored.get("duplicates") == 0:
        # Acknowledged (as for Meta, which must not retry what can never be stored) but not stored.
        typer.echo(
            "error: the server acknowledged the message but did not store it; its log says why"
            " (e.g. a --user-id that is not a business-scoped user id, or --from the business's own number)",
            err=True,
        )
        raise typer.Exit(1)
    if not json_output:
        sender = body.get("from") or f"user id {body.get('userId')}"
        again = " (already stored: a redelivery)" if isinstance(stored, dict) and stored.get("messages") == 0 else ""
        typer.echo(
            f"Sent {_what(body, image)} from {sender} to {result.get('to') or 'the business'}: "
            f"{result.get('messageId')}{again}"
        )


def _quoted(text: str, limit: int = 60) -> str:
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "\u2026", ensure_ascii=False)


def _what(body: dict[str, Any], image: Path | None) -> str:
    """What the customer sent, in a few words: `text "hi"`, `button "Yes" (yes)`, `photo pizza.jpg`."""
    if body.get("requestWelcome"):
        return "a first opening of the chat (request_welcome)"
    if "text" in body:
        return "text " + _quoted(str(body["text"]))
    for key, kind in (("buttonReply", "button"), ("listReply", "list row")):
        if key in body:
            return f"{kind} {_quoted(body[key]['title'])} ({body[key]['id']})"
    caption = body.get("image", {}).get("caption")
    return f"photo {image.name if image else ''}" + (f" captioned {_quoted(caption)}" if caption else "")


def _webhook_error(stored: Any) -> str | None:
    """The server's reason for refusing a webhook (`{"error": {"message"}}`), if it gave one."""
    error = stored.get("error") if isinstance(stored, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else None
