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


def run_cli(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["WAB_DATA_DIR"] = str(tmp_path / "data")
    env["WAB_LOG_LEVEL"] = "WARNING"
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "whatsapp_builder", *args],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
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
    assert rows(database_url, 'SELECT id::text, status::text, "isActive", "publishedNodes" IS NOT NULL FROM chatbots') == [
        (chatbot_id, "active", True, True)]


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
