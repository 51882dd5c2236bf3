"""Parts a (webhook acknowledgement), b (end to end) and c (delivery worker) against real processes."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.common import (
    PYTHON,
    RESULTS,
    WAB,
    CpuMeter,
    Env,
    Proc,
    button_reply_payload,
    customer,
    fmt,
    free_port,
    log,
    pct,
    signed_body,
    sql,
    text_messages_payload,
    wait_http,
    wamid,
)
from bench.loadgen import closed_loop, open_loop

# ------------------------------------------------------------------------------------------ the stack


@dataclass
class Stack:
    env: Env
    server_port: int
    sim_port: int
    sim: Proc | None = None
    server: Proc | None = None
    workers: list[Proc] = field(default_factory=list)
    mode: str = ""
    token: str = ""
    inbox: Any = None  # bench.inbox_clients.InboxClients while part b runs with --inbox-clients

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def start_simulator(self) -> None:
        self.sim = self.env.start("simulator", [
            PYTHON, "-m", "bench.simhost", "--port", str(self.sim_port),
            "--webhook-url", f"{self.server_url}/webhooks/whatsapp", "--history-limit", "200000"])
        wait_http(f"{self.sim_url}/_simulator/health", self.sim)

    def start_server(self, mode: str, workers: int = 0) -> None:
        """mode: 'all-in-one' (serve, workers inside) or 'split' (serve --no-workers + `workers` processes)."""
        self.stop_server()
        self.mode = mode
        argv = [WAB, "serve", "--port", str(self.server_port)]
        if mode != "all-in-one":
            argv.append("--no-workers")
        self.server = self.env.start(f"server-{mode}", argv)
        wait_http(f"{self.server_url}/healthz", self.server)
        for i in range(workers):
            self.workers.append(self.env.start(f"worker-{mode}-{i}", [WAB, "worker"]))
        if workers:
            time.sleep(2.0)  # imports, migrations check, LISTEN

    def start_worker(self, name: str) -> Proc:
        proc = self.env.start(name, [WAB, "worker"])
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for w in self.workers:
            self.env.stop(w)
        self.workers = []

    def stop_server(self) -> None:
        self.stop_workers()
        if self.server is not None:
            self.env.stop(self.server)
            self.server = None

    def cpu_groups(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        if self.server is not None:
            groups["server (serve)"] = [self.server.pid]
        if self.workers:
            groups["worker process(es)"] = [w.pid for w in self.workers]
        if self.sim is not None:
            groups["simulator"] = [self.sim.pid]
        return groups


def purge_jobs(env: Env) -> int:
    rows = sql(env.database_url, "WITH d AS (DELETE FROM procrastinate_jobs WHERE status = 'todo' RETURNING 1)"
                                 " SELECT count(*) FROM d")
    return int(rows[0][0])


def open_jobs(env: Env) -> int:
    rows = sql(env.database_url, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
                                 " AND queue_name <> 'maintenance'")
    return int(rows[0][0])


def cpu_text(cpu: dict[str, float]) -> str:
    order = sorted(cpu.items(), key=lambda kv: (kv[0] == "machine total", -kv[1]))
    return ", ".join(f"{k} {v:.0f}%" for k, v in order if v >= 0.5 or k == "machine total")


# ------------------------------------------------------------------------------------------ part a


async def part_ack(stack: Stack, quick: bool) -> tuple[str, dict[str, Any]]:
    url = f"{stack.server_url}/webhooks/whatsapp"
    duration = 3.0 if quick else 10.0
    numbers = [customer("10", i) for i in range(1000)]

    def single(tag: str):  # noqa: ANN202
        def make(n: int) -> tuple[bytes, dict[str, str]]:
            return signed_body(text_messages_payload([(numbers[n % 1000], wamid(tag, n), "hello")]))
        return make

    def batch(n: int) -> tuple[bytes, dict[str, str]]:
        items = [(numbers[(n * 100 + k) % 1000], wamid("b", n * 100 + k), "hello") for k in range(100)]
        return signed_body(text_messages_payload(items))

    runs = [("1 msg/POST, concurrency 1", single("a1"), 1, min(duration, 3.0), 1),
            ("1 msg/POST, concurrency 32", single("a32"), 32, duration, 1),
            ("100 msgs/POST, concurrency 4", batch, 4, duration, 100)]
    rows = []
    figures: dict[str, Any] = {}
    # warm up (first customers, conversations, pool connections)
    await closed_loop(url, single("w"), concurrency=8, duration=1.0)
    for label, make, conc, dur, per in runs:
        cpu = CpuMeter(stack.cpu_groups())
        cpu.start()
        r = await closed_loop(url, make, concurrency=conc, duration=dur)
        usage = cpu.stop()
        posts = r.ok / r.elapsed
        lat = [x * 1000 for x in r.latencies]
        server_ms = usage.get("server (serve)", 0) / 100 * cpu.elapsed * 1000 / max(1, r.ok * per)
        pg_ms = usage.get("postgres", 0) / 100 * cpu.elapsed * 1000 / max(1, r.ok * per)
        rows.append(f"| {label} | {fmt(posts)} | {fmt(posts * per)} | {fmt(pct(lat, 50), 2)} | "
                    f"{fmt(pct(lat, 99), 2)} | {r.errors} | {cpu_text(usage)} | {server_ms:.2f} / {pg_ms:.2f} |")
        figures[label] = {"posts_per_s": posts, "msgs_per_s": posts * per, "p50_ms": pct(lat, 50),
                          "p99_ms": pct(lat, 99), "errors": r.errors, "first_error": r.first_error}
        log(f"ack {label}: {posts:.0f} POST/s, p50 {pct(lat, 50)} ms, p99 {pct(lat, 99)} ms, errors {r.errors}")
    purged = purge_jobs(stack.env)
    text = "\n".join([
        f"### a. Webhook acknowledgement alone (`serve --no-workers`; signed text webhooks, new wamid each, "
        f"1,000 customers; closed loop, {duration:.0f} s each)",
        "",
        "| load | POST/s | messages/s | p50 ms | p99 ms | errors | CPU (% of one core) | CPU ms per message: "
        "server / postgres |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
        *rows,
        "",
        f"(then {purged} queued flow jobs were deleted, since no worker ran)",
    ])
    return text, figures


# ------------------------------------------------------------------------------------------ part c


async def part_delivery(stack: Stack, token: str, quick: bool) -> tuple[str, dict[str, Any]]:
    """Queue N outbound messages through the API (no worker running), then start one worker and time it."""
    env = stack.env
    conversations = [r[0] for r in sql(env.database_url,
                                       'SELECT id FROM conversations WHERE "customerId" IS NOT NULL'
                                       ' ORDER BY id LIMIT 1000')]
    if not conversations:
        return "### c. Delivery worker\n\n(no conversations: part a must run first)", {}
    per = 2
    n_conv = min(len(conversations), 150 if quick else 500)
    targets = [conversations[i % n_conv] for i in range(n_conv * per)]
    headers = {"Authorization": f"Bearer {token}"}
    t0 = time.perf_counter()
    api_lat: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        sem = asyncio.Semaphore(16)

        async def post(i: int, conv: Any) -> None:
            nonlocal errors
            async with sem:
                started = time.perf_counter()
                async with session.post(f"{stack.server_url}/api/conversations/{conv}/messages",
                                        json={"type": "text", "content": {"body": f"bench delivery {i}"}}) as r:
                    await r.read()
                    if r.status != 202:
                        errors += 1
                    else:
                        api_lat.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(post(i, c) for i, c in enumerate(targets)))
    api_elapsed = time.perf_counter() - t0
    total = len(targets) - errors
    ids_query = ("SELECT count(*) FILTER (WHERE status IN ('sent','delivered','read')),"
                 " count(*) FILTER (WHERE status = 'failed'), count(*) FROM messages"
                 " WHERE direction = 'outbound' AND content->>'body' LIKE 'bench delivery %%'")
    cpu = CpuMeter(stack.cpu_groups())
    worker = stack.start_worker("worker-delivery")
    cpu.groups["worker process(es)"] = [worker.pid]
    cpu.start()
    first_at = last_at = None
    deadline = time.monotonic() + (60 if quick else 120)
    sent = failed = 0
    while time.monotonic() < deadline:
        sent, failed, _ = sql(env.database_url, ids_query)[0]
        now = time.monotonic()
        if sent and first_at is None:
            first_at = now
        if sent + failed >= total:
            last_at = now
            break
        if worker.popen.poll() is not None:
            raise RuntimeError(f"worker exited:\n{worker.tail()}")
        await asyncio.sleep(0.05)
    usage = cpu.stop()
    stack.stop_workers()
    end_at = last_at or time.monotonic()  # deadline reached: the rate so far
    rate = (sent - 1) / (end_at - first_at) if first_at and sent > 1 and end_at > first_at else None
    figures = {"messages": total, "sent": sent, "failed": failed, "sends_per_s": rate,
               "api_posts_per_s": len(targets) / api_elapsed, "api_p50_ms": pct(api_lat, 50),
               "api_p99_ms": pct(api_lat, 99)}
    log(f"delivery: {figures}")
    text = "\n".join([
        f"### c. Delivery worker throughput (one `whatsapp-builder worker`, concurrency 16, against the simulator)",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| outbound messages queued via `POST /api/conversations/{{id}}/messages` ({n_conv} conversations) "
        f"| {total} |",
        f"| API: messages queued/s (concurrency 16), p50 / p99 ms | {fmt(len(targets) / api_elapsed)}, "
        f"{fmt(pct(api_lat, 50), 2)} / {fmt(pct(api_lat, 99), 2)} |",
        f"| **sends/s** (first to last `sent`; DB polled every 50 ms) | **{fmt(rate)}** |",
        f"| sent / failed / not done | {sent} / {failed} / {total - sent - failed} |",
        f"| CPU (% of one core) | {cpu_text(usage)} |",
        f"| CPU ms per send: worker / postgres / server (status webhooks) | "
        f"{usage.get('worker process(es)', 0) / 100 * cpu.elapsed * 1000 / max(1, sent):.1f} / "
        f"{usage.get('postgres', 0) / 100 * cpu.elapsed * 1000 / max(1, sent):.1f} / "
        f"{usage.get('server (serve)', 0) / 100 * cpu.elapsed * 1000 / max(1, sent):.1f} |",
        "",
        "Each first send in a conversation also queued one mark-as-read job (one more Graph call), as the API does.",
    ])
    return text, figures


# ------------------------------------------------------------------------------------------ part b


async def _sim(stack: Stack, method: str, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.sim_url, timeout=30) as client:
        response = await client.request(method, path)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


async def quiesce(stack: Stack, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stats = await _sim(stack, "GET", "/_bench/stats")
        if stats["inFlightStatusTasks"] == 0 and open_jobs(stack.env) == 0:
            return True
        await asyncio.sleep(0.25)
    return False


@dataclass
class StepResult:
    rate: float
    n: int
    replied: int
    p50: float | None
    p99: float | None
    max_ms: float | None
    reply_rate: float | None
    ack_p50: float | None
    ack_p99: float | None
    ack_errors: int
    late: int
    status_posted: int
    status_ok: int
    status_p99: float | None
    sends: int
    reads: int
    cpu: dict[str, float]
    drained_s: float
    ok: bool
    why: str = ""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    batching: dict[str, float] = field(default_factory=dict)
    batch_ms: dict[str, float] = field(default_factory=dict)  # mean time per transaction of each stage
    live_events: dict[str, int] = field(default_factory=dict)  # received by the --inbox-clients, all together


async def batching_stats(stack: Stack) -> dict[str, dict[str, int]]:
    """The server's group-commit counters (GET /api/stats/batching); empty when unavailable."""
    if not stack.token:
        return {}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{stack.server_url}/api/stats/batching",
                                      headers={"Authorization": f"Bearer {stack.token}"})
        return response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def items_per_batch(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, float]:
    out = {}
    for name, now in after.items():
        was = before.get(name, {"batches": 0, "items": 0})
        batches = now["batches"] - was["batches"]
        if batches > 0:
            out[name] = (now["items"] - was["items"]) / batches
    return out


def ms_per_batch(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each stage's mean transaction time over the step (servers that report `seconds`)."""
    out = {}
    for name, now in after.items():
        was = before.get(name, {"batches": 0, "seconds": 0.0})
        batches = now["batches"] - was["batches"]
        if batches > 0 and "seconds" in now:
            out[name] = 1000 * (now["seconds"] - was.get("seconds", 0.0)) / batches
    return out


# Part b's two kinds of traffic: what each inbound message is, and what the demo bot answers.
NEW = "new"  # 'hi' from a customer never seen before: a new user and conversation, 2 replies (welcome, menu)
RETURNING = "returning"  # a customer at the menu presses "Order a pizza": 1 reply (the pizza list)
SCENARIOS = (NEW, RETURNING)


async def _bring_to_menu(stack: Stack, tag: str, numbers: list[str], limit: float) -> bool:
    """Make `numbers` customers who said 'hi' and were shown the menu (not measured)."""
    hello = [signed_body(text_messages_payload([(number, wamid("p" + tag, i), "hi")]))
             for i, number in enumerate(numbers)]
    url = f"{stack.server_url}/webhooks/whatsapp"
    done = await closed_loop(url, lambda i: hello[i], concurrency=32, duration=limit, max_requests=len(numbers))
    if done.ok < len(numbers):
        log(f"preparing returning customers: only {done.ok}/{len(numbers)} webhooks accepted ({done.first_error})")
        return False
    deadline = time.monotonic() + limit
    while (await _sim(stack, "GET", "/_bench/stats")).get("firstCount", 0) < len(numbers):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.25)
    return await quiesce(stack, limit)


async def e2e_step(stack: Stack, tag: str, rate: float, duration: float, drain: float,
                   scenario: str = NEW) -> StepResult:
    n = max(1, int(rate * duration))
    numbers = [customer(tag, i) for i in range(n)]
    if scenario == RETURNING:
        await _sim(stack, "POST", "/_bench/take")
        if not await _bring_to_menu(stack, tag, numbers, 120.0):
            raise RuntimeError("could not bring the returning customers to the menu")
        purge_jobs(stack.env)
        bodies = [signed_body(button_reply_payload(numbers[i], wamid("r" + tag, i), "order", "Order a pizza"))
                  for i in range(n)]
    else:
        bodies = [signed_body(text_messages_payload([(numbers[i], wamid("e" + tag, i), "hi")])) for i in range(n)]
    await _sim(stack, "POST", "/_bench/take")
    if stack.inbox is not None:
        stack.inbox.take()
    before = await _sim(stack, "GET", "/_bench/stats")
    batches_before = await batching_stats(stack)
    cpu = CpuMeter(stack.cpu_groups())
    cpu.start()
    load = await open_loop(f"{stack.server_url}/webhooks/whatsapp", bodies, rate=rate)
    sent_done = time.monotonic()
    wanted = set(numbers)
    replied = 0
    while time.monotonic() - sent_done < drain:
        stats = await _sim(stack, "GET", "/_bench/stats")
        # the probe counts first sends to any number; only ours are being sent now
        if stats.get("firstCount", 0) >= n:
            break
        await asyncio.sleep(0.1)
    drained = time.monotonic() - sent_done
    usage = cpu.stop()
    cpu_ms = {k: v / 100 * cpu.elapsed * 1000 / n for k, v in usage.items()
              if k not in ("other processes", "machine total", "bench (load generator)")}
    after = await _sim(stack, "GET", "/_bench/stats")
    batches_after = await batching_stats(stack)
    batching = items_per_batch(batches_before, batches_after)
    batch_ms = ms_per_batch(batches_before, batches_after)
    first = (await _sim(stack, "POST", "/_bench/take"))["first"]
    lat = []
    last_reply = None
    for i, number in enumerate(numbers):
        at = first.get(number)
        if at is not None:
            lat.append((at - load.scheduled[i]) * 1000)
            last_reply = at if last_reply is None else max(last_reply, at)
    replied = len(lat)
    reply_rate = replied / (last_reply - load.scheduled[0]) if last_reply and replied > 1 else None
    ack = [x * 1000 for x in load.latencies]
    p99 = pct(lat, 99)
    why = []
    if replied < 0.99 * n:
        why.append(f"only {replied}/{n} answered within {drain:.0f}s of the last send")
    if p99 is None or p99 > 1000:
        why.append("p99 > 1 s")
    if load.errors:
        why.append(f"{load.errors} webhook errors ({load.first_error})")
    del wanted
    return StepResult(
        rate=rate, n=n, replied=replied, p50=pct(lat, 50), p99=p99, max_ms=max(lat) if lat else None,
        reply_rate=reply_rate, ack_p50=pct(ack, 50), ack_p99=pct(ack, 99), ack_errors=load.errors,
        late=load.late, status_posted=after["statusPosted"] - before["statusPosted"],
        status_ok=after["statusOk"] - before["statusOk"], status_p99=after["statusP99Ms"],
        sends=after["sends"] - before["sends"], reads=after["reads"] - before["reads"], cpu=usage,
        drained_s=drained, ok=not why, why="; ".join(why), cpu_ms=cpu_ms, batching=batching, batch_ms=batch_ms,
        live_events=stack.inbox.take() if stack.inbox is not None else {})


def cpu_ms_text(cpu_ms: dict[str, float]) -> str:
    total = sum(cpu_ms.values())
    parts = ", ".join(f"{k.split(' ')[0]} {v:.1f}" for k, v in sorted(cpu_ms.items(), key=lambda kv: -kv[1]))
    return f"**{total:.1f}** ({parts})"


def step_row(s: StepResult) -> str:
    return (f"| {s.rate:.0f} | {s.n} | {s.replied} | {fmt(s.reply_rate)} | {fmt(s.p50)} | {fmt(s.p99)} | "
            f"{fmt(s.ack_p50, 2)} / {fmt(s.ack_p99, 2)} | {s.sends} | {s.reads} | {s.status_ok}/{s.status_posted}"
            f" (p99 {fmt(s.status_p99)} ms) | {'yes' if s.ok else 'no: ' + s.why} | {cpu_text(s.cpu)} | "
            f"{cpu_ms_text(s.cpu_ms)} | {batching_text(s.batching, s.batch_ms)} |")


def batching_text(batching: dict[str, float], batch_ms: dict[str, float] | None = None) -> str:
    ms = batch_ms or {}
    return ", ".join(
        f"{name} {value:.1f}" + (f" ({ms[name]:.0f} ms)" if name in ms else "") for name, value in sorted(batching.items())
    ) or "-"


async def e2e_ramp(stack: Stack, variant: str, rates: list[float], duration: float, drain: float,
                   quiet_limit: float, digit: int, scenario: str = NEW,
                   keep_going: bool = False) -> tuple[list[StepResult], float | None]:
    results: list[StepResult] = []
    sustained = None
    for k, rate in enumerate(rates):
        if not await quiesce(stack, quiet_limit):
            log(f"e2e {variant}: system not idle before {rate}/s; stopping")
            break
        purge_jobs(stack.env)
        step = await e2e_step(stack, f"{digit}{k}", rate, duration, drain, scenario)
        results.append(step)
        log(f"e2e {variant}, {scenario} customers, {rate:.0f}/s: replied {step.replied}/{step.n}, p50 {fmt(step.p50)} ms, "
            f"p99 {fmt(step.p99)} ms, ok={step.ok} {step.why}; cpu {cpu_text(step.cpu)}; "
            f"items per transaction {batching_text(step.batching, step.batch_ms)}"
            + (f"; live events to the inbox clients {sum(step.live_events.values())} {step.live_events}"
               if stack.inbox is not None else ""))
        if not step.ok:
            if keep_going:
                continue
            break
        sustained = rate
    return results, sustained


def e2e_table(variant: str, results: list[StepResult], sustained: float | None, duration: float) -> str:
    return "\n".join([
        f"#### {variant}",
        "",
        "| offered msg/s | sent | answered | first replies/s | p50 ms | p99 ms | ack p50 / p99 ms | sends | "
        "read receipts | status webhooks ok/posted | sustained | CPU (% of one core) | CPU ms per inbound msg | "
        "items per transaction |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|",
        *(step_row(s) for s in results),
        "",
        f"**Highest sustained rate: {fmt(sustained) if sustained else 'none of the offered rates'} msg/s** "
        f"({duration:.0f} s steps; sustained = ≥99% answered within the drain window, p99 ≤ 1 s, no webhook errors).",
    ])


async def profile_step(stack: Stack, rate: float, seconds: float, out_svg: Path) -> str:
    """Run load at `rate` for `seconds` while py-spy records the server process."""
    pyspy = str(Path(PYTHON).parent / "py-spy")
    raw = out_svg.with_suffix(".txt")
    await quiesce(stack, 30)
    purge_jobs(stack.env)
    assert stack.server is not None
    common = ["record", "--pid", str(stack.server.pid), "-d", str(int(seconds)), "-r", "100", "--nonblocking"]
    try:
        spies = [subprocess.Popen([pyspy, *common, "-o", str(out_svg)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE),
                 subprocess.Popen([pyspy, *common, "--format", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)]
    except OSError as exc:
        return f"(py-spy not available: {exc})"
    await asyncio.sleep(0.5)
    step = await e2e_step(stack, "99", rate, seconds, drain=3.0)
    for spy in spies:
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
    errors = [s.stderr.read().decode(errors="replace")[-300:] for s in spies if s.returncode and s.stderr]
    if not raw.exists():
        return f"(py-spy produced nothing: {errors})"
    return top_functions(raw, step)


def top_functions(raw: Path, step: StepResult | None = None, top: int = 25) -> str:
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        self_time[frames[-1]] = self_time.get(frames[-1], 0) + count
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + count

    def short(frame: str) -> str:
        frame = frame.replace(str(Path(PYTHON).parents[1]) + "/lib/python3.11/site-packages/", "")
        frame = frame.replace("/usr/lib/python3.11/", "").replace("/usr/local/lib/python3.11/", "")
        return frame.replace(str(RESULTS.parents[1]) + "/src/", "")

    lines = []
    if step is not None:
        lines.append(f"Profiled load: {step.rate:.0f} msg/s offered for {step.n / step.rate:.0f} s; answered "
                     f"{step.replied}/{step.n}, p50 {fmt(step.p50)} ms, p99 {fmt(step.p99)} ms; CPU {cpu_text(step.cpu)}")
        lines.append("")
    lines += [f"{total} samples of the server process (busy samples only; 100 Hz).", "",
              "Top functions by own time (self):", "", "| self % | function |", "|---:|---|"]
    for frame, count in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {100 * count / max(1, total):.1f} | `{short(frame)}` |")
    lines += ["", "Top project / library functions by inclusive time:", "", "| incl. % | function |", "|---:|---|"]
    interesting = [(f, c) for f, c in inclusive.items()
                   if ("whatsapp_builder" in f or "procrastinate" in f or "sqlalchemy" in f or "psycopg" in f
                       or "httpx" in f or "fastapi" in f or "starlette" in f or "socketio" in f
                       or "httpcore" in f or "json" in f or "pydantic" in f)]
    for frame, count in sorted(interesting, key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {100 * count / max(1, total):.1f} | `{short(frame)}` |")
    return "\n".join(lines)
