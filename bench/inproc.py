"""Parts d (the pure flow engine) and e (the job queue's own jobs/s), in this process."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

from bench.common import ROOT, fmt, log, median

# ------------------------------------------------------------------------------------------ part d


class _NoHttp:
    async def perform(self, request: Any) -> Any:  # the demo bot has no http_request node
        raise RuntimeError("no HTTP in the benchmark")


async def part_engine(quick: bool) -> tuple[str, dict[str, Any]]:
    from whatsapp_builder.flows.engine import run_turn
    from whatsapp_builder.flows.graph import compile_graph
    from whatsapp_builder.flows.types import ContactInfo, ContextState, EngineSettings, FlowInput

    demo = json.loads((ROOT / "examples" / "demo-chatbot.json").read_text())
    t0 = time.perf_counter()
    graph = compile_graph(demo["nodes"], demo["edges"])
    compile_us = (time.perf_counter() - t0) * 1e6
    settings = EngineSettings(session_timeout=dt.timedelta(minutes=30), restart_keywords=("restart", "menu"))
    contact = ContactInfo(name="Alice", phone="+447700900123")
    http = _NoHttp()
    # A whole order: hi -> (welcome + menu buttons), Order -> list, Margherita -> question, "4" -> discount,
    # summary, end. Inputs as the runner builds them from stored messages.
    script = [
        ("text", {"body": "hi"}),
        ("interactive", {"buttonId": "order", "title": "Order a pizza"}),
        ("interactive", {"listRowId": "margherita", "title": "Margherita"}),
        ("text", {"body": "4"}),
    ]
    inputs = [FlowInput.from_message(t, c) for t, c in script]
    now = dt.datetime.now(dt.UTC)
    iterations = 500 if quick else 5000

    async def conversation() -> tuple[int, int]:
        state = None
        steps = sent = 0
        for flow_input in inputs:
            result = await run_turn(graph, state, flow_input, contact=contact, now=now, settings=settings, http=http)
            state = result.state
            steps += result.steps
            sent += len(result.outgoing)
        return steps, sent

    steps_per_conv, sent_per_conv = await conversation()
    for _ in range(200):  # warm up
        await conversation()
    samples = []
    rounds = 5
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iterations // rounds):
            await conversation()
        samples.append((time.perf_counter() - t0) / (iterations // rounds))
    per_conv = median(samples) or 0.0
    turn_us = per_conv / len(inputs) * 1e6
    step_us = per_conv / steps_per_conv * 1e6

    # The "hi" turn alone (what end-to-end sends), and with the runner's per-message work around it:
    # FlowInput from the stored row, state from/to the JSONB columns, outgoing messages to JSON.
    hi = inputs[0]
    n = iterations * 2
    t0 = time.perf_counter()
    for _ in range(n):
        await run_turn(graph, None, hi, contact=contact, now=now, settings=settings, http=http)
    hi_us = (time.perf_counter() - t0) / n * 1e6

    first = await run_turn(graph, None, hi, contact=contact, now=now, settings=settings, http=http)
    stored = json.loads(json.dumps(first.state.to_dict()))
    t0 = time.perf_counter()
    for _ in range(n):
        flow_input = FlowInput.from_message("text", {"body": "restart"})
        state = ContextState.from_dict(stored)
        result = await run_turn(graph, state, flow_input, contact=contact, now=now, settings=settings, http=http)
        json.dumps(result.state.to_dict())
        json.dumps([m.to_dict() for m in result.outgoing])
    message_us = (time.perf_counter() - t0) / n * 1e6

    figures = {"compile_us": compile_us, "turn_us": turn_us, "step_us": step_us, "hi_turn_us": hi_us,
               "message_us": message_us, "turns_per_s": 1e6 / turn_us}
    log(f"engine: {figures}")
    text = "\n".join([
        "### d. Flow engine alone (pure `run_turn`, demo graph compiled once, one core, in process)",
        "",
        "| figure | µs | per second |",
        "|---|---:|---:|",
        f"| compile the demo graph (once per published version) | {fmt(compile_us)} | - |",
        f"| one `run_turn`, average over a whole order (4 turns, {steps_per_conv} node steps, "
        f"{sent_per_conv} messages out) | {fmt(turn_us, 1)} | {fmt(1e6 / turn_us)} turns/s |",
        f"| one node step (same run) | {fmt(step_us, 1)} | {fmt(1e6 / step_us)} steps/s |",
        f"| the 'hi' turn (new context: start, welcome, menu = 2 messages) | {fmt(hi_us, 1)} | "
        f"{fmt(1e6 / hi_us)} msg/s |",
        f"| per inbound message incl. the runner's pure work (input from row, state from/to JSON, "
        f"restart turn) | {fmt(message_us, 1)} | {fmt(1e6 / message_us)} msg/s |",
        "",
        f"Median of {rounds} rounds of {iterations // rounds} whole orders.",
    ])
    return text, figures


# ------------------------------------------------------------------------------------------ part e


async def part_queue(database_url: str, quick: bool) -> tuple[str, dict[str, Any]]:
    import procrastinate
    from procrastinate import jobs as pjobs

    from whatsapp_builder.jobs.tasks import PromptWorker

    n = 500 if quick else 2000
    single_n = 200 if quick else 500
    connector = procrastinate.PsycopgConnector(conninfo=database_url, min_size=1, max_size=20)
    app = procrastinate.App(connector=connector)
    done = 0

    @app.task(name="bench_noop", queue="bench")
    async def bench_noop(i: int) -> None:
        nonlocal done
        done += 1

    rows: list[str] = []
    figures: dict[str, Any] = {}
    async with app.open_async():
        # defer one job per transaction (like one webhook POST deferring one flow job)
        t0 = time.perf_counter()
        for i in range(single_n):
            await bench_noop.defer_async(i=i)
        single_rate = single_n / (time.perf_counter() - t0)
        rows.append(f"| defer, 1 job per call (own transaction), sequential | {fmt(single_rate)} jobs/s |")
        figures["defer_single_per_s"] = single_rate
        done = 0
        await _run(app, PromptWorker, 16)  # drain those (not timed)

        async def defer_batch(lock_of: Any) -> float:
            t0 = time.perf_counter()
            for start in range(0, n, 100):
                batch = [pjobs.Job(queue="bench", lock=lock_of(i), queueing_lock=None, task_name="bench_noop",
                                   task_kwargs={"i": i}) for i in range(start, min(n, start + 100))]
                await app.job_manager.batch_defer_jobs_async(jobs=batch)
            return n / (time.perf_counter() - t0)

        for label, lock_of, conc in [
            ("no lock", lambda i: None, 16),
            ("a lock per job (like `flow:<conversation>`)", lambda i: f"bench:{i}", 16),
            ("a lock per 2 jobs (2 replies of one conversation)", lambda i: f"bench:{i // 2}", 16),
            ("no lock", lambda i: None, 1),
        ]:
            await app.job_manager.connector.execute_query_async(
                "DELETE FROM procrastinate_jobs WHERE queue_name = 'bench' AND status = 'todo'")
            rate_defer = await defer_batch(lock_of)
            done = 0
            t0 = time.perf_counter()
            limit = 5.0 if quick else 15.0
            await _run(app, PromptWorker, conc, until=lambda: done >= n or time.perf_counter() - t0 > limit)
            elapsed = time.perf_counter() - t0
            rate_run = done / elapsed
            rows.append(f"| run no-op jobs, {label}, concurrency {conc}: {done} of {n} in {elapsed:.1f} s | "
                        f"**{fmt(rate_run)} jobs/s** (deferred in batches of 100 at {fmt(rate_defer)} jobs/s) |")
            figures[f"run {label} c{conc}"] = rate_run
            log(f"queue {label} c{conc}: defer {rate_defer:.0f}/s, run {rate_run:.0f}/s ({done}/{n})")
        await app.job_manager.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE queue_name = 'bench' AND status = 'todo'")
    rows += await _fetch_latency(database_url, quick, figures)
    text = "\n".join([
        "### e. Job queue alone (procrastinate 3 on this PostgreSQL; the app's `PromptWorker`, "
        "`delete_jobs=successful`, one process)",
        "",
        "| operation | rate |",
        "|---|---:|",
        *rows,
    ])
    return text, figures


async def _fetch_latency(database_url: str, quick: bool, figures: dict[str, Any]) -> list[str]:
    """One `procrastinate_fetch_job_v2` call (what a worker runs, one at a time, before each job) with a backlog
    of todo jobs that each carry a lock, as all of the app's jobs do."""
    import psycopg

    rows = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for backlog in ((200, 1000) if quick else (200, 1000, 3000)):
            await conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
            # churn first, as a running system has: as many jobs done and deleted (delete_jobs=successful)
            await conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args) SELECT 'bench', 'bench_noop',"
                " 'bench-done:' || i, '{}' FROM generate_series(1, %s) i", (backlog,))
            await conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
            await conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args) SELECT 'bench', 'bench_noop',"
                " 'bench-fetch:' || i, '{}' FROM generate_series(1, %s) i", (backlog,))
            for queues, label in (("{bench}", "queues=['bench']"), (None, "all queues (the app's worker)")):
                samples = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    await conn.execute("SELECT procrastinate_fetch_job_v2(%s, NULL)", (queues,))
                    samples.append((time.perf_counter() - t0) * 1000)
                ms = median(samples)
                figures[f"fetch_ms {backlog} {label}"] = ms
                rows.append(f"| one fetch (`procrastinate_fetch_job_v2`, {label}) with {backlog:,} todo jobs that "
                            f"have locks, after as many were done and deleted | {fmt(ms, 1)} ms = at most {fmt(1000 / ms if ms else None)} jobs/s per "
                            f"worker |")
                log(f"fetch with backlog {backlog} {label}: {ms:.1f} ms")
        await conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
    return rows


async def _run(app: Any, worker_cls: Any, concurrency: int, until: Any = None, timeout: float = 300) -> None:
    """Run a worker on the bench queue until `until()` is true (or, without it, until the queue is empty)."""
    worker = worker_cls(app=app, queues=["bench"], concurrency=concurrency, name="bench", wait=until is not None,
                        listen_notify=False, fetch_job_polling_interval=0.02, delete_jobs="successful",
                        install_signal_handlers=False)
    task = asyncio.create_task(worker.run())
    deadline = time.perf_counter() + timeout
    if until is None:
        await asyncio.wait_for(task, timeout=timeout)
        return
    while not until() and time.perf_counter() < deadline and not task.done():
        await asyncio.sleep(0.005)
    worker.stop()
    try:
        await asyncio.wait_for(task, timeout=30)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        task.cancel()
