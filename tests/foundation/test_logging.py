"""What reaches the log when something fails: a plain traceback, never the frames' local variables (they hold
API tokens and customers' messages), in the console and the JSON format alike."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from whatsapp_builder.logging import configure_logging, get_logger


def _fail_holding_a_secret() -> None:
    token = "wab_secret_token_value"
    raise RuntimeError(f"boom {len(token)}")


@pytest.mark.parametrize("as_json", [False, True])
def test_an_exception_is_logged_without_local_variables(capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", json=as_json)
        structlog.reset_defaults()
        configure_logging("INFO", json=as_json)
        try:
            _fail_holding_a_secret()
        except RuntimeError:
            get_logger("test").exception("it failed")
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=True)
    finally:
        root.handlers[:], root.level = handlers, level
        structlog.reset_defaults()
    output = capsys.readouterr().err
    assert "wab_secret_token_value" not in output
    assert "RuntimeError: boom 22" in output and "_fail_holding_a_secret" in output
    if as_json:
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert lines[0]["event"] == "it failed" and "RuntimeError: boom 22" in lines[0]["exception"]


def test_python_socketio_errors_are_logged_once() -> None:
    """python-socketio gives its loggers a console handler of their own when their level is unset: each of its
    errors ("Cannot publish to redis... retrying") was printed twice, once raw. In a process of its own, since
    other tests' servers may have set these loggers up already."""
    import subprocess
    import sys

    script = (
        "import socketio, logging\n"
        "from whatsapp_builder.logging import configure_logging\n"
        "configure_logging('INFO')\n"
        "server = socketio.AsyncServer(async_mode='asgi', logger=False, engineio_logger=False)\n"
        "server.logger.error('Cannot publish to redis... retrying')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Cannot publish to redis") == 1, result.stderr
