"""The `simulator send` command against a running simulator."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from whatsapp_builder.simulator.cli import simulator_app
from whatsapp_builder.whatsapp.parser import parse_webhook

runner = CliRunner()


def test_cli_send_text_button_and_list(simulator: Any, receiver: Any) -> None:
    base = ["send", "--simulator-url", simulator.url, "--from", "+15551234567", "--name", "Alice"]
    outputs = [runner.invoke(simulator_app, [*base, *args]) for args in
               (["--text", "hi"], ["--button", "yes:Yes please"], ["--list-row", "r1:Pizza"])]
    assert [r.exit_code for r in outputs] == [0, 0, 0], [r.output for r in outputs]
    messages = [m for item in receiver.items for m in parse_webhook(item.payload).messages]
    assert [(m.type, m.content) for m in messages] == [
        ("text", {"body": "hi"}),
        ("interactive", {"buttonId": "yes", "title": "Yes please"}),
        ("interactive", {"listRowId": "r1", "title": "Pizza"}),
    ]
    assert {m.contact_name for m in messages} == {"Alice"}
    # A line for people: what was sent, from and to which number, its WhatsApp message id (not the raw JSON).
    sent = ['text "hi"', 'button "Yes please" (yes)', 'list row "Pizza" (r1)']
    assert [r.stdout for r in outputs] == [
        f"Sent {what} from +15551234567 to +15550001111: {m.wa_message_id}\n" for what, m in zip(sent, messages, strict=True)
    ]


def test_cli_send_prints_the_simulators_answer_with_json(simulator: Any, receiver: Any) -> None:
    result = runner.invoke(simulator_app, ["send", "--simulator-url", simulator.url, "--text", "hi", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    [message] = [m for item in receiver.items for m in parse_webhook(item.payload).messages]
    assert answer == {"status": 200, "messageId": message.wa_message_id, "body": "EVENT_RECEIVED",
                      "to": "+15550001111"}


def test_cli_send_without_a_name_sends_no_profile_name(simulator: Any, receiver: Any) -> None:
    """So a customer the operator renamed (or who wrote with another name) is not renamed by a test message."""
    result = runner.invoke(simulator_app, ["send", "--simulator-url", simulator.url, "--text", "hi"])
    assert result.exit_code == 0, result.output
    [message] = [m for item in receiver.items for m in parse_webhook(item.payload).messages]
    assert message.contact_name is None and message.from_phone == "15551234567"


def test_cli_send_with_only_a_user_id_is_a_customer_without_a_phone_number(simulator: Any, receiver: Any) -> None:
    """Not the default number with a new id: that would take a known customer's number (the recycled-number rule)."""
    args = ["send", "--simulator-url", simulator.url, "--user-id", "US.31337", "--text", "hi"]
    result = runner.invoke(simulator_app, args)
    assert result.exit_code == 0, result.output
    [message] = [m for item in receiver.items for m in parse_webhook(item.payload).messages]
    assert message.from_phone is None and message.from_user_id == "US.31337"
    both = ["send", "--simulator-url", simulator.url, "--from", "+15550002222", "--user-id", "US.4", "--text", "x"]
    assert runner.invoke(simulator_app, both).exit_code == 0
    message = [m for item in receiver.items for m in parse_webhook(item.payload).messages][-1]
    assert (message.from_phone, message.from_user_id) == ("15550002222", "US.4")


def test_cli_bad_input_exits_non_zero_without_traceback(simulator: Any) -> None:
    base = ["send", "--simulator-url", simulator.url]
    for args in (
        [*base],
        [*base, "--text", "a", "--button", "b:c"],
        [*base, "--button", "no-colon"],
        [*base, "--list-row", ":Title"],
        [*base, "--from", "abc", "--text", "hi"],
        [*base, "--from", " ", "--user-id", "US.1", "--text", "hi"],
    ):
        result = runner.invoke(simulator_app, args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, (ValueError, KeyError, TypeError))
    # The simulator's refusal is a line per problem, not its JSON.
    refused = runner.invoke(simulator_app, [*base, "--from", "abc", "--text", "hi"])
    assert refused.exit_code == 1 and "error: 'from' must be a phone number" in refused.output, refused.output
    assert "{" not in refused.output


def test_cli_unreachable_simulator() -> None:
    result = runner.invoke(simulator_app, ["send", "--simulator-url", "http://127.0.0.1:9", "--text", "hi"])
    assert result.exit_code == 1
    assert "cannot reach the simulator" in result.output


def test_simulator_start_refuses_a_busy_port_and_a_bad_webhook_url() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(simulator_app, ["--port", str(port)])
    assert result.exit_code == 1 and "already in use" in result.output
    assert not isinstance(result.exception, (OSError, SystemError))
    bad = runner.invoke(simulator_app, ["--port", "1", "--webhook-url", "notaurl"])
    assert bad.exit_code == 2 and "--webhook-url" in bad.output


def test_simulator_command_keeps_its_history_limit_and_logs_requests_only_when_asked(tmp_path: Any) -> None:
    """`--history-limit` bounds what `/_simulator/messages` keeps; requests are not logged unless `--access-log`
    (a load test's thousands of sends a second would flood the terminal, or block on a pipe no one reads)."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    def run(*extra: str) -> str:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        log = tmp_path / f"sim-{port}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "whatsapp_builder", "simulator", "--port", str(port), *extra],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/_simulator/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)  # polling the starting process, bounded by the deadline
            body = {"messaging_product": "whatsapp", "to": "15550001234", "type": "text", "text": {"body": "x"}}
            auth = {"Authorization": "Bearer demo-access-token"}
            for n in range(3):
                body["text"] = {"body": str(n)}
                assert httpx.post(f"{url}/v23.0/100000000000001/messages", json=body, headers=auth).status_code == 200
            items = httpx.get(f"{url}/_simulator/messages").json()["items"]
            assert [item["payload"]["text"]["body"] for item in items] == ["1", "2"]
        finally:
            process.terminate()
            process.wait(timeout=15)
        return log.read_text()

    quiet = run("--history-limit", "2", "--webhook-url", "http://127.0.0.1:9/webhooks/whatsapp")
    assert "POST /v23.0" not in quiet and "simulator on http://127.0.0.1" in quiet
    logged = run("--history-limit", "2", "--access-log", "--webhook-url", "http://127.0.0.1:9/webhooks/whatsapp")
    assert "POST /v23.0/100000000000001/messages" in logged


def test_cli_sends_a_photo_that_the_simulator_then_serves_as_whatsapp_does(
    simulator: Any, receiver: Any, tmp_path: Any
) -> None:
    import hashlib

    import httpx

    photo = tmp_path / "pizza.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    base = ["send", "--simulator-url", simulator.url, "--from", "+15551234567"]
    result = runner.invoke(simulator_app, [*base, "--image", str(photo), "--caption", "cold"])
    assert result.exit_code == 0, result.output
    [message] = [m for item in receiver.items for m in parse_webhook(item.payload).messages]
    assert message.type == "image" and message.content["caption"] == "cold"
    assert result.stdout.startswith('Sent photo pizza.png captioned "cold" from +15551234567 to +15550001111: wamid.')
    assert message.content["mimeType"] == "image/png"
    assert message.content["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    from tests.simulator.conftest import ACCESS_TOKEN

    token = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    info = httpx.get(f"{simulator.url}/v23.0/{message.content['id']}", headers=token).json()
    assert httpx.get(info["url"], headers=token).content == photo.read_bytes()
    assert httpx.get(info["url"]).status_code == 401  # WhatsApp's download URLs need the token
    # What WhatsApp would not take as an image is refused before anything is sent.
    page = tmp_path / "page.svg"
    page.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (5 * 1024 * 1024 + 1))
    for refused in (page, big, tmp_path / "missing.png"):
        answer = runner.invoke(simulator_app, [*base, "--image", str(refused)])
        assert answer.exit_code != 0, refused
    assert runner.invoke(simulator_app, [*base, "--text", "hi", "--caption", "x"]).exit_code != 0
    assert len(receiver.items) == 1


def test_cli_refuses_a_photo_that_is_not_a_regular_file_without_waiting(tmp_path: Any) -> None:
    """`--image` on a named pipe called `photo.png` waited for a writer forever, and on a link to /dev/zero read
    until memory ran out: both are refused at once, before anything is sent (no simulator is asked)."""
    import os

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    base = ["send", "--simulator-url", "http://127.0.0.1:9", "--from", "+15551234567"]
    for path, kind in ((fifo, "a named pipe (FIFO)"), (zero, "a character device")):
        result = runner.invoke(simulator_app, [*base, "--image", str(path)])
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.replace("│", " ").split())  # as typer boxes and wraps it
        assert f"is {kind}, not a regular file" in said, result.output
        assert "Traceback" not in result.output and "cannot reach the simulator" not in result.output
