"""Shared plumbing: databases, processes, signed payloads, percentiles, CPU accounting."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
VENV_BIN = ROOT / ".venv" / "bin"
WAB = str(VENV_BIN / "whatsapp-builder")
PYTHON = str(VENV_BIN / "python")

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BASE = "postgresql://postgres@127.0.0.1:5432/"

# The demo's WhatsApp config (whatsapp_builder/demo.py) and the simulator's defaults agree on these.
APP_SECRET = "demo-app-secret"
PHONE_NUMBER_ID = "100000000000001"
DISPLAY_PHONE = "15550001111"
BUSINESS_ACCOUNT_ID = "200000000000001"
TICK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ databases


def create_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_BASE + name


def drop_database(name: str) -> None:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the real error
        log(f"could not drop {name}: {exc}")


def sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


# ------------------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Env:
    """Everything the child processes share: one database, one secret key, one data folder."""

    db_name: str
    database_url: str
    data_dir: Path
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    procs: list[Proc] = field(default_factory=list)
    # The embedded PostgreSQL in data_dir (as `make run` uses it): the child processes get no DATABASE_URL and
    # join that server themselves; database_url is the bench's own way in.
    embedded: bool = False

    def environ(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        if not self.embedded:
            env["DATABASE_URL"] = self.database_url
        env.update({
            "WAB_SECRET_KEY": self.secret_key,
            "WAB_DATA_DIR": str(self.data_dir),
            "WAB_LOG_LEVEL": "WARNING",
            # Meta's default per-number limit is 80 msg/s; the 1,000 msg/s goal needs the top tier.
            "WAB_SEND_RATE_PER_SECOND": "10000",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        })
        env.update(extra)
        return env

    def run(self, *args: str, **extra: str) -> str:
        done = subprocess.run([WAB, *args], env=self.environ(**extra), cwd=self.data_dir,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"whatsapp-builder {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, name: str, argv: list[str], **extra: str) -> Proc:
        LOGS.mkdir(parents=True, exist_ok=True)
        log_path = LOGS / f"{name}.log"
        handle = log_path.open("wb")
        popen = subprocess.Popen(argv, env=self.environ(**extra), cwd=self.data_dir, stdout=handle,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not healthy at {url} after {timeout}s:\n{proc.tail()}")


# ------------------------------------------------------------------------------------------ payloads


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wamid(tag: str, n: int) -> str:
    return f"wamid.bench.{tag}.{n}.{secrets.token_hex(6)}"


def text_messages_payload(items: list[tuple[str, str, str]], ts: int | None = None) -> dict[str, Any]:
    """One webhook POST with text messages [(wa_id, wamid, body)], shaped as Meta batches them."""
    stamp = str(ts or int(time.time()))
    return _messages_payload([(wa_id, {"from": wa_id, "id": mid, "timestamp": stamp, "type": "text",
                                       "text": {"body": body}}) for wa_id, mid, body in items])


def button_reply_payload(wa_id: str, mid: str, button_id: str, title: str) -> dict[str, Any]:
    """One webhook POST with a customer's press of a reply button, as Meta sends it."""
    return _messages_payload([(wa_id, {
        "from": wa_id, "id": mid, "timestamp": str(int(time.time())), "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}})])


def _messages_payload(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    contacts, messages, seen = [], [], set()
    for wa_id, message in items:
        if wa_id not in seen:
            seen.add(wa_id)
            contacts.append({"profile": {"name": f"Bench {wa_id[-4:]}"}, "wa_id": wa_id})
        messages.append(message)
    return {"object": "whatsapp_business_account", "entry": [{"id": BUSINESS_ACCOUNT_ID, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_PHONE, "phone_number_id": PHONE_NUMBER_ID},
            "contacts": contacts, "messages": messages}}]}]}


def signed_body(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}


def customer(prefix: str, n: int) -> str:
    """A possible UK mobile number in wa_id form (digits): 447 + 9 digits; prefix is 2 digits."""
    return f"447{prefix}{n:07d}"


# ------------------------------------------------------------------------------------------ statistics


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def median(values: list[float]) -> float | None:
    return pct(values, 50)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


# ------------------------------------------------------------------------------------------ CPU accounting


def _proc_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return None


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU seconds used per group of processes between start() and stop(); `postgres` = all its backends."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start_ticks: dict[str, dict[int, int]] = {}
        self.t0 = 0.0
        self.machine0 = (0, 0)
        self.elapsed = 0.0

    def _snapshot(self) -> dict[str, dict[int, int]]:
        snap: dict[str, dict[int, int]] = {}
        for name, pids in self.groups.items():
            snap[name] = {p: t for p in pids if (t := _proc_ticks(p)) is not None}
        snap["postgres"] = {p: t for p in _postgres_pids() if (t := _proc_ticks(p)) is not None}
        snap["bench (load generator)"] = {os.getpid(): _proc_ticks(os.getpid()) or 0}
        return snap

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.start_ticks = self._snapshot()
        self.machine0 = machine_cpu_snapshot()

    def stop(self) -> dict[str, float]:
        """Percent of one core per group over the interval (200% = both cores of this machine)."""
        elapsed = max(1e-6, time.monotonic() - self.t0)
        self.elapsed = elapsed
        end = self._snapshot()
        out: dict[str, float] = {}
        for name, ticks in end.items():
            before = self.start_ticks.get(name, {})
            used = sum(t - before.get(p, 0) for p, t in ticks.items())  # new backends count from 0
            out[name] = 100.0 * used / TICK / elapsed
        busy, total = machine_cpu_snapshot()
        cores = os.cpu_count() or 1
        if total > self.machine0[1]:
            machine = 100.0 * cores * (busy - self.machine0[0]) / (total - self.machine0[1])
            out["other processes"] = max(0.0, machine - sum(out.values()))
            out["machine total"] = machine
        return out


def machine_cpu_snapshot() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, to report what the other processes used."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total
