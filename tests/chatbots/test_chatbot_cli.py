"""`python -m whatsapp_builder demo` and `chatbot import/export`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
DEMO_FILE = ROOT / "examples" / "demo-chatbot.json"


def run_cli(*args: str, database_url: str, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["WAB_DATA_DIR"] = str(tmp_path / "data")
    env["WAB_LOG_LEVEL"] = "WARNING"
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "whatsapp_builder", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
    )


def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    return lines[-1]


def test_demo_is_idempotent(database_url: str, tmp_path: Path) -> None:
    first = run_cli("demo", database_url=database_url, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("demo", database_url=database_url, tmp_path=tmp_path)
    assert second.returncode == 0, second.stderr
    chatbot_id = last_line(first)
    assert uuid.UUID(chatbot_id) and last_line(second) == chatbot_id
    assert "created the demo chatbot" in first.stderr and "kept the demo chatbot" in second.stderr
    assert rows(database_url, "SELECT count(*) FROM whatsapp_config") == [(1,)]
    # The simulator has no throughput limit: the demo number is not held at Meta's starting 80 a second.
    assert rows(database_url, 'SELECT "messagesPerSecond" FROM whatsapp_config') == [(10_000,)]
    assert rows(database_url, 'SELECT id::text, status::text, "isActive", "publishedNodes" IS NOT NULL FROM chatbots') == [
        (chatbot_id, "active", True, True)]


def test_demo_follows_the_simulator_port_but_leaves_a_real_number_alone(database_url: str, tmp_path: Path) -> None:
    url = 'SELECT "graphApiUrl" FROM whatsapp_config WHERE "isActive"'
    assert run_cli("demo", "--simulator-url", "http://127.0.0.1:18081",
                   database_url=database_url, tmp_path=tmp_path).returncode == 0
    moved = run_cli("demo", "--simulator-url", "http://127.0.0.1:18082", database_url=database_url, tmp_path=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert "pointed the demo WhatsApp config at http://127.0.0.1:18082" in moved.stderr
    assert rows(database_url, url) == [("http://127.0.0.1:18082",)]
    # Bare, as the README's table shows it, it keeps the address (`make run` on other ports set it).
    bare = run_cli("demo", database_url=database_url, tmp_path=tmp_path)
    assert bare.returncode == 0 and "kept the WhatsApp config" in bare.stderr
    assert rows(database_url, url) == [("http://127.0.0.1:18082",)]
    # Credentials edited by hand (the demo number works with the simulator's only) are put back, once.
    with psycopg.connect(database_url) as conn:
        conn.execute('UPDATE whatsapp_config SET "accessToken" = \'edited\', "webhookVerifyToken" = \'edited\'')
    reset = run_cli("demo", "--simulator-url", "http://127.0.0.1:18082", database_url=database_url, tmp_path=tmp_path)
    assert reset.returncode == 0 and "pointed the demo WhatsApp config" in reset.stderr, reset.stderr
    token = 'SELECT "accessToken", "webhookVerifyToken" FROM whatsapp_config WHERE "isActive"'
    [(stored_token, verify_token)] = rows(database_url, token)
    assert stored_token != "edited" and verify_token != "edited"
    again = run_cli("demo", "--simulator-url", "http://127.0.0.1:18082", database_url=database_url, tmp_path=tmp_path)
    assert "kept the WhatsApp config" in again.stderr and rows(database_url, token) == [(stored_token, verify_token)]
    bad = run_cli("demo", "--simulator-url", "not a url", database_url=database_url, tmp_path=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "simulator" in bad.stderr.lower()
    assert rows(database_url, url) == [("http://127.0.0.1:18082",)]
    # A business's own number (another phone number id) keeps its Graph API address.
    with psycopg.connect(database_url) as conn:
        conn.execute("""UPDATE whatsapp_config SET "phoneNumberId" = '123456789012345', "graphApiUrl" = NULL""")
    kept = run_cli("demo", "--simulator-url", "http://127.0.0.1:18083", database_url=database_url, tmp_path=tmp_path)
    assert kept.returncode == 0 and "kept the WhatsApp config" in kept.stderr
    assert "123456789012345" in kept.stderr and "not the demo's" in kept.stderr
    assert rows(database_url, url) == [(None,)]


def test_import_activate_then_export(database_url: str, tmp_path: Path) -> None:
    imported = run_cli("chatbot", "import", str(DEMO_FILE), "--activate", database_url=database_url, tmp_path=tmp_path)
    assert imported.returncode == 0, imported.stderr
    chatbot_id = last_line(imported)
    assert str(uuid.UUID(chatbot_id)) == chatbot_id
    assert rows(database_url, 'SELECT id::text, status::text, "publishedAt" IS NOT NULL FROM chatbots') == [
        (chatbot_id, "active", True)]

    out = tmp_path / "exported.json"
    exported = run_cli("chatbot", "export", chatbot_id, str(out), database_url=database_url, tmp_path=tmp_path)
    assert exported.returncode == 0, exported.stderr
    original = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["nodes"] == original["nodes"] and written["edges"] == original["edges"]
    assert written["name"] == original["name"] and written["metadata"] == original["metadata"]
    nowhere = run_cli("chatbot", "export", chatbot_id, str(tmp_path / "missing" / "x.json"),
                      database_url=database_url, tmp_path=tmp_path)
    assert nowhere.returncode == 1 and nowhere.stderr.startswith("error: cannot write"), nowhere.stderr


def test_import_of_an_invalid_file_lists_the_problems(database_url: str, tmp_path: Path) -> None:
    broken = {
        "name": "Broken",
        "nodes": [
            {"id": "start1", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
            {"id": "start2", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
        ],
        "edges": [{"id": "e-ghost", "source": "start1", "target": "ghost"}],
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    result = run_cli("chatbot", "import", str(path), "--activate", database_url=database_url, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "error:" in result.stderr
    assert "start2" in result.stderr or "start1" in result.stderr
    assert "e-ghost" in result.stderr and "ghost" in result.stderr
    assert rows(database_url, "SELECT count(*) FROM chatbots") == [(0,)]

    # Without --activate it is stored as a draft, as the API and the web UI import, and the same problems are
    # listed as warnings; the id is still alone on the last line.
    draft = run_cli("chatbot", "import", str(path), database_url=database_url, tmp_path=tmp_path)
    assert draft.returncode == 0, draft.stderr
    assert draft.stderr.startswith("warning: imported as a draft with 2 problems to fix before it can be published:")
    assert "  - e-ghost: " in draft.stderr and "  - start2: " in draft.stderr
    assert rows(database_url, "SELECT id::text, status::text FROM chatbots") == [(last_line(draft), "draft")]


def test_missing_and_non_json_files_fail_without_a_traceback(database_url: str, tmp_path: Path) -> None:
    missing = run_cli("chatbot", "import", str(tmp_path / "nope.json"), database_url=database_url, tmp_path=tmp_path)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("this is { not json", encoding="utf-8")
    not_json = run_cli("chatbot", "import", str(garbage), database_url=database_url, tmp_path=tmp_path)
    assert not_json.returncode != 0 and "Traceback" not in not_json.stderr
    assert "error:" in not_json.stderr
    target = tmp_path / "out.json"
    unknown = run_cli("chatbot", "export", str(uuid.uuid4()), str(target), database_url=database_url,
                      tmp_path=tmp_path)
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr and "error:" in unknown.stderr
    assert not target.exists() or target.read_text() == ""
    assert rows(database_url, "SELECT count(*) FROM chatbots") == [(0,)]


def assert_clean_failure(result: subprocess.CompletedProcess[str], *, lines: int | None = 1) -> list[str]:
    assert result.returncode == 1, (result.returncode, result.stderr)
    output = result.stderr + result.stdout
    assert "Traceback" not in output and "Usage:" not in output and "errors.pydantic.dev" not in output, output
    written = result.stderr.strip().splitlines()
    assert written and written[0].startswith("error: "), written
    if lines is not None:
        assert len(written) == lines, written
    return written


def test_import_refuses_bad_files_in_one_line_each(database_url: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert "nested too deeply" in assert_clean_failure(
        run_cli("chatbot", "import", str(deep), database_url=database_url, tmp_path=tmp_path))[0]
    for missing in (tmp_path / "nope.json", tmp_path):
        assert_clean_failure(run_cli("chatbot", "import", str(missing), database_url=database_url, tmp_path=tmp_path))
    big = tmp_path / "big.json"
    big.write_text(DEMO_FILE.read_text(encoding="utf-8") + " " * (1024 * 1024), encoding="utf-8")
    assert "WAB_API_MAX_BODY" in assert_clean_failure(
        run_cli("chatbot", "import", str(big), database_url=database_url, tmp_path=tmp_path))[0]
    not_a_number = tmp_path / "nan.json"
    not_a_number.write_text(DEMO_FILE.read_text(encoding="utf-8").replace('"x": 0', '"x": NaN', 1), encoding="utf-8")
    assert "NaN is not a JSON value" in assert_clean_failure(
        run_cli("chatbot", "import", str(not_a_number), database_url=database_url, tmp_path=tmp_path))[0]
    assert rows(database_url, "SELECT count(*) FROM chatbots") == [(0,)]


def test_import_lists_schema_problems_one_line_each(database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    deep: Any = []
    for _ in range(40):
        deep = [deep]
    bad.write_text(json.dumps({"name": "", "nodes": "x", "colour": "red", "metadata": {"a": deep}}), encoding="utf-8")
    written = assert_clean_failure(run_cli("chatbot", "import", str(bad), database_url=database_url,
                                           tmp_path=tmp_path), lines=5)
    problems = written[1:]
    assert [line.split(":")[0].strip() for line in problems] == ["name", "nodes", "metadata", "colour"], problems
    assert "levels deep" in problems[2]
    assert rows(database_url, "SELECT count(*) FROM chatbots") == [(0,)]


def test_import_refuses_what_is_not_a_regular_file_without_waiting(database_url: str, tmp_path: Path) -> None:
    """`chatbot import PIPE` (mkfifo) waited for a writer forever; a device was read as a file (`/dev/zero` until
    the size cap). Anything but a regular file (a link to one is fine) is an `error:` line and exit 1, at once."""
    fifo = tmp_path / "bot.json"
    os.mkfifo(fifo)
    linked = tmp_path / "linked.json"
    linked.symlink_to(fifo)
    cases = [(fifo, "named pipe (FIFO)"), (linked, "named pipe (FIFO)"), (tmp_path, "directory"),
             (Path("/dev/null"), "character device"), (Path("/dev/zero"), "character device")]
    for path, kind in cases:
        result = run_cli("chatbot", "import", str(path), database_url=database_url, tmp_path=tmp_path, timeout=60)
        assert f"{path} is a {kind}, not a regular file" in assert_clean_failure(result)[0], result.stderr
    real = tmp_path / "real.json"
    real.write_bytes(DEMO_FILE.read_bytes())
    (tmp_path / "link-to-real.json").symlink_to(real)
    ok = run_cli("chatbot", "import", str(tmp_path / "link-to-real.json"), database_url=database_url, tmp_path=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert rows(database_url, "SELECT count(*) FROM chatbots") == [(1,)]


def test_import_accepts_a_utf8_bom(database_url: str, tmp_path: Path) -> None:
    with_bom = tmp_path / "bom.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + DEMO_FILE.read_bytes())
    result = run_cli("chatbot", "import", str(with_bom), database_url=database_url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert rows(database_url, "SELECT id::text FROM chatbots") == [(last_line(result),)]


def test_export_of_a_chatbot_stored_too_deep_fails_cleanly(database_url: str, tmp_path: Path) -> None:
    deep: Any = []
    for _ in range(500):
        deep = [deep]
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO chatbots (name, nodes) VALUES ('Deep', %s::jsonb) RETURNING id::text",
                           (json.dumps([{"id": "start", "type": "start", "data": {"x": deep}}]),)).fetchone()
    assert row is not None
    target = tmp_path / "out.json"
    result = run_cli("chatbot", "export", row[0], str(target), database_url=database_url, tmp_path=tmp_path)
    assert "nested" in assert_clean_failure(result)[0]
    assert not target.exists() or target.read_text() == ""
