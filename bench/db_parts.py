"""Parts f (raw PostgreSQL with pgbench) and g (the app's queries on a generated 1M-message data set)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from typing import Any

import psycopg

from bench.common import PG_BASE, Env, fmt, log, median, sql

# ------------------------------------------------------------------------------------------ part f


def _pgbench() -> str:
    for path in ("/usr/lib/postgresql/15/bin/pgbench", shutil.which("pgbench")):
        if path:
            return path
    raise RuntimeError("pgbench not found")


def part_pgbench(db_name: str, quick: bool) -> tuple[str, dict[str, Any]]:
    scale, seconds = (2, 4) if quick else (10, 15)
    base = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
    t0 = time.perf_counter()
    subprocess.run([_pgbench(), *base, "-i", "-q", "-s", str(scale), db_name], check=True, capture_output=True)
    init_s = time.perf_counter() - t0
    figures: dict[str, Any] = {"scale": scale, "init_s": init_s}
    rows = []
    for label, args in [("-N (simple-update: 3 UPDATE/SELECT/INSERT per transaction)", ["-N"]),
                        ("-S (SELECT only)", ["-S"])]:
        out = subprocess.run([_pgbench(), *base, *args, "-c", "8", "-j", "2", "-T", str(seconds), db_name],
                             check=True, capture_output=True, text=True).stdout
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
        lat = re.search(r"latency average = ([\d.]+) ms", out)
        value = float(tps.group(1)) if tps else None
        figures[label] = value
        rows.append(f"| pgbench {label}, 8 clients, 2 threads, {seconds} s | **{fmt(value)}** | "
                    f"{lat.group(1) if lat else '-'} |")
        log(f"pgbench {label}: {value} tps")
    url = PG_BASE + db_name
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_commit (x int)")
        samples = []
        for _ in range(5 if quick else 20):
            t0 = time.perf_counter()
            for _ in range(20):
                conn.execute("INSERT INTO bench_commit VALUES (1)")
            samples.append((time.perf_counter() - t0) / 20 * 1000)
        commit_ms = median(samples)
        t0 = time.perf_counter()
        for _ in range(500):
            conn.execute("SELECT 1")
        rtt_ms = (time.perf_counter() - t0) / 500 * 1000
    figures["commit_ms"] = commit_ms
    figures["select1_ms"] = rtt_ms
    rows.append(f"| one connection, sequential 1-row INSERT + COMMIT (the WAL flush each commit waits for) | "
                f"{fmt(1000 / commit_ms) if commit_ms else '-'} | {fmt(commit_ms, 2)} |")
    rows.append(f"| one connection, sequential `SELECT 1` (round trip, no commit) | {fmt(1000 / rtt_ms)} | "
                f"{fmt(rtt_ms, 3)} |")
    log(f"commit {commit_ms} ms, select 1 {rtt_ms} ms")
    text = "\n".join([
        f"### f. Raw PostgreSQL for comparison (pgbench scale {scale}, scratch database)",
        "",
        "| run | transactions/s | avg latency ms |",
        "|---|---:|---:|",
        *rows,
    ])
    return text, figures


# ------------------------------------------------------------------------------------------ part g


def generate(url: str, quick: bool) -> dict[str, Any]:
    customers, big, big_n, small_n = (2000, 10, 5000, 25) if quick else (10_000, 10, 50_000, 51)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("INSERT INTO users (\"phoneNumber\", name) SELECT '+4479' || lpad(i::text, 8, '0'),"
                     " 'Customer ' || i FROM generate_series(1, %s) i", (customers,))
        biz = conn.execute("INSERT INTO users (\"phoneNumber\", name) VALUES ('+15550001111', 'Business')"
                           " RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute('INSERT INTO conversations ("customerId", "whatsappPhoneNumberId", "lastCustomerMessageAt")'
                     " SELECT id, '100000000000001', now() - interval '1 hour' FROM users"
                     " WHERE name LIKE 'Customer %%'")
        conn.execute('INSERT INTO conversation_participants ("conversationId", "userId")'
                     ' SELECT id, "customerId" FROM conversations UNION ALL SELECT id, %s FROM conversations',
                     (biz,))
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages' AND indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE conrelid = 'messages'::regclass)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(
            'WITH c AS (SELECT id, "customerId", row_number() OVER (ORDER BY id) AS rn FROM conversations)'
            ' INSERT INTO messages (id, "conversationId", "senderId", type, content, status, "timestamp", direction)'
            ' SELECT gen_random_uuid(), c.id, CASE WHEN g %% 2 = 0 THEN c."customerId" ELSE %s END, \'text\','
            " jsonb_build_object('body', 'message ' || g || ' of conversation ' || c.rn), 'read',"
            " now() - interval '400 days' + g * interval '1 minute' + c.rn * interval '1 millisecond',"
            " (CASE WHEN g %% 2 = 0 THEN 'inbound' ELSE 'outbound' END)::message_direction"
            " FROM c CROSS JOIN LATERAL generate_series(1, CASE WHEN c.rn <= %s THEN %s ELSE %s END) g",
            (biz, big, big_n, small_n))
        for _, definition in indexes:
            conn.execute(definition)
        bot = conn.execute("SELECT id FROM chatbots ORDER BY \"createdAt\" LIMIT 1").fetchone()[0]  # type: ignore[index]
        conn.execute('INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId", "isActive",'
                     ' "createdAt") SELECT c.id, %s, \'menu\', k = 3, now() - (3 - k) * interval \'1 hour\''
                     " FROM conversations c CROSS JOIN generate_series(1, 3) k", (bot,))
        conn.execute("ANALYZE")
        count = conn.execute("SELECT count(*) FROM messages").fetchone()[0]  # type: ignore[index]
        convs = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]  # type: ignore[index]
    return {"messages": count, "conversations": convs, "big": big, "big_n": big_n, "small_n": small_n,
            "generate_s": time.perf_counter() - t0}


async def part_queries(env: Env, db_name: str, quick: bool) -> tuple[str, dict[str, Any]]:
    from sqlalchemy import event, select

    from whatsapp_builder.conversations.models import Message
    from whatsapp_builder.conversations.service import active_context, list_conversations, list_messages
    from whatsapp_builder.db.engine import create_engine, create_session_factory
    from whatsapp_builder.settings import Settings

    url = PG_BASE + db_name
    scratch = Env(db_name, url, env.data_dir, secret_key=env.secret_key)
    scratch.run("db", "upgrade")
    scratch.run("demo", "--simulator-url", "http://127.0.0.1:9")
    info = generate(url, quick)
    log(f"generated {info}")
    reps = 10 if quick else 30
    deep = 4000 if quick else 40_000

    big_convs = [r[0] for r in sql(url, 'SELECT "conversationId" FROM messages GROUP BY 1'
                                         f" HAVING count(*) >= {info['big_n']} LIMIT 5")]
    small_convs = [r[0] for r in sql(url, 'SELECT id FROM conversations ORDER BY id DESC LIMIT 200')]
    big = big_convs[0]
    cursor_row = sql(url, 'SELECT "timestamp", id FROM messages WHERE "conversationId" = %s'
                          ' ORDER BY "timestamp" DESC, id DESC OFFSET %s LIMIT 1', (big, deep - 1))[0]
    inbox_cursor = sql(url, 'SELECT "lastMessageAt", id FROM conversations WHERE "lastMessageAt" IS NOT NULL'
                            ' ORDER BY "lastMessageAt" DESC NULLS LAST, id DESC OFFSET 4999 LIMIT 1')
    inbox_after = (inbox_cursor[0][0], inbox_cursor[0][1]) if inbox_cursor else None

    settings = Settings(database_url=url)
    engine = create_engine(settings, url)
    sessions = create_session_factory(engine)
    captured: list[tuple[str, Any]] = []
    capturing = False

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if capturing:
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)

    async def offset_page(session: Any, conv: uuid.UUID) -> list[Any]:
        query = (select(Message).where(Message.conversation_id == conv)
                 .order_by(Message.timestamp.desc(), Message.id.desc()).limit(50).offset(deep))
        return list((await session.execute(query)).scalars())

    runner_sql = ('SELECT id, "chatbotId", "currentNodeId", variables, "nodeHistory", "engineState"'
                  ' FROM conversation_contexts WHERE "conversationId" = %s AND "isActive" = true'
                  ' ORDER BY "createdAt" DESC LIMIT 1')

    cases: list[tuple[str, Any]] = [
        ("newest page of a 50k-message conversation (keyset, 50 rows)" if not quick else
         "newest page of a big conversation (keyset, 50 rows)",
         lambda s, i: list_messages(s, big_convs[i % len(big_convs)], limit=50, before=None)),
        (f"newest page of a ~{info['small_n']}-message conversation (keyset, 50 rows)",
         lambda s, i: list_messages(s, small_convs[i % len(small_convs)], limit=50, before=None)),
        (f"page at row {deep:,} of the big conversation via keyset (`before` cursor)",
         lambda s, i: list_messages(s, big, limit=50, before=(cursor_row[0], cursor_row[1]))),
        (f"the same page via OFFSET {deep:,}", lambda s, i: offset_page(s, big)),
        ("inbox: 50 newest conversations by lastMessageAt",
         lambda s, i: list_conversations(s, limit=50, after=None)),
        ("inbox: page 101 (after row 5,000) via keyset",
         lambda s, i: list_conversations(s, limit=50, after=inbox_after)),
        ("active context of a conversation (service `active_context`)",
         lambda s, i: active_context(s, small_convs[i % len(small_convs)])),
    ]
    rows = []
    figures: dict[str, Any] = {"data": info}
    with psycopg.connect(url, autocommit=True) as raw:
        for label, call in cases:
            service_ms = []
            sql_ms = []
            nrows = 0
            for i in range(reps + 2):
                captured.clear()
                capturing = True
                async with sessions() as session:
                    t0 = time.perf_counter()
                    out = await call(session, i)
                    elapsed = (time.perf_counter() - t0) * 1000
                capturing = False
                statements = list(captured)
                t0 = time.perf_counter()
                for statement, params in statements:
                    raw.execute(statement, params).fetchall()
                raw_elapsed = (time.perf_counter() - t0) * 1000
                if i >= 2:  # first two: warm caches and connections
                    service_ms.append(elapsed)
                    sql_ms.append(raw_elapsed)
                nrows = len(out) if isinstance(out, list) else int(out is not None)
            rows.append(f"| {label} | {fmt(median(service_ms), 2)} | {fmt(median(sql_ms), 2)} | {nrows} | "
                        f"{len(statements)} |")
            figures[label] = {"service_ms": median(service_ms), "sql_ms": median(sql_ms)}
            log(f"query {label}: service {median(service_ms)} ms, sql {median(sql_ms)} ms; statements: "
                + " | ".join(" ".join(st.split())[:90] for st, _ in statements))
        runner_ms = []
        for i in range(reps):
            t0 = time.perf_counter()
            raw.execute(runner_sql, (small_convs[i % len(small_convs)],)).fetchall()
            runner_ms.append((time.perf_counter() - t0) * 1000)
        rows.append(f"| active context, the flow runner's own SQL (`runner._active_context`) | - | "
                    f"{fmt(median(runner_ms), 2)} | 1 | 1 |")
        plan = raw.execute("EXPLAIN (ANALYZE, COSTS OFF) " + runner_sql, (small_convs[0],)).fetchall()
    await engine.dispose()
    text = "\n".join([
        f"### g. Query times at scale ({info['messages']:,} messages in {info['conversations']:,} conversations, "
        f"{info['big']} of them with {info['big_n']:,} messages, the rest {info['small_n']}; generated in "
        f"{info['generate_s']:.0f} s, ANALYZEd)",
        "",
        "| query (the app's own code in `conversations/service.py`) | service call ms | its SQL alone ms | rows | "
        "statements |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Medians of {reps} runs. *service call* = the service function through the app's SQLAlchemy session "
        "(ORM objects built); *its SQL alone* = the exact statements it issued, replayed with psycopg. "
        "`list_messages` issues 2 statements (existence check + page).",
        "",
        "Plan of the runner's active-context lookup: " + "; ".join(r[0].strip() for r in plan[:3]),
    ])
    return text, figures
