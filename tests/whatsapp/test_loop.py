"""The whole loop on loopback: a customer (the simulator) talks to the demo bot through signed webhooks,
the bot's replies are delivered through the outbox, and status webhooks move them to read."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import wait_until
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows import runner


def _bodies(items: list[dict[str, object]]) -> list[str]:
    out = []
    for item in items:
        payload = item["payload"]
        assert isinstance(payload, dict)
        if payload["type"] == "text":
            out.append(payload["text"]["body"])
        elif payload["type"] == "interactive":
            out.append(payload["interactive"]["body"]["text"])
        else:
            out.append(payload["type"])
    return out


def _quoted(database_url: str, wamid: object) -> tuple[object, ...] | None:
    """What the stored message with this WhatsApp id quotes (its `content.replyTo`), as a one-column row."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT content->>'replyTo' FROM messages WHERE \"whatsappMessageId\" = %s", (wamid,)
        ).fetchone()


def _statuses(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute('SELECT direction::text, status::text FROM messages ORDER BY "timestamp", id').fetchall()
    return [(str(a), str(b)) for a, b in rows]


async def test_a_customer_orders_a_pizza_from_the_demo_bot(loop, database_url: str, waiter) -> None:  # type: ignore[no-untyped-def]
    await loop.say({"text": "hi"})
    sent = await loop.wait_sent(2)
    assert _bodies(sent) == ["Hi Alice! Welcome to Pizza Place \U0001f355", "What would you like to do?"]
    assert sent[1]["payload"]["interactive"]["type"] == "button"

    async def all_read() -> bool:
        rows = _statuses(database_url)
        return len(rows) == 3 and all(status == "read" for _, status in rows)

    await waiter(all_read, message="replies read and the customer's message marked read")

    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    sent = await loop.wait_sent(3)
    assert sent[2]["payload"]["interactive"]["type"] == "list"
    await loop.say({"listReply": {"id": "pepperoni", "title": "Pepperoni"}})
    sent = await loop.wait_sent(4)
    assert "How many Pepperoni pizzas" in _bodies(sent)[3]
    await loop.say({"text": "lots"})
    sent = await loop.wait_sent(5)  # the retry prompt
    await loop.say({"text": "5"})
    sent = await loop.wait_sent(7)
    assert "10% off" in _bodies(sent)[5]
    assert _bodies(sent)[6].startswith("Thanks Alice! Your order of 5 x Pepperoni with 10% off is confirmed")

    with psycopg.connect(database_url) as conn:
        context = conn.execute(
            'SELECT "isActive", variables, "nodeHistory", "engineState"->>\'endedReason\' FROM conversation_contexts'
        ).fetchone()
    assert context is not None
    is_active, variables, history, reason = context
    assert is_active is False and reason == "completed"
    assert variables["pizza"] == "Pepperoni" and variables["quantity"] == 5
    assert history[0] == "start" and history[-1] == "done_discount"


async def test_talk_to_a_human_hands_off_and_the_operator_answers(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    await loop.say({"text": "hello"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to a human"}})
    sent = await loop.wait_sent(3)
    assert "a member of our team will answer you" in sent[2]["payload"]["text"]["body"]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True

    # While handed off the bot stays silent.
    await loop.say({"text": "are you there?"})
    with psycopg.connect(database_url) as conn:
        async def stored() -> bool:
            return conn.execute("SELECT count(*) FROM messages WHERE direction = 'inbound'").fetchone() == (3,)
        await waiter(stored)
    response = await client.post(f"/api/conversations/{conversation['id']}/messages",
                                 json={"type": "text", "content": {"body": "Hi Alice, Sam here. How can I help?"}})
    assert response.status_code == 202, response.text
    pending = response.json()
    assert pending["status"] == "pending" and pending["direction"] == "outbound"
    assert pending["sentBy"] == "operator"
    sent = await loop.wait_sent(4)
    assert sent[3]["payload"]["text"]["body"] == "Hi Alice, Sam here. How can I help?"
    assert len(await loop.sent()) == 4  # and nothing from the bot
    # The inbox tells who wrote each message: the bot's replies and the operator's both come from the business.
    listed = (await client.get(f"/api/conversations/{conversation['id']}/messages")).json()["items"]
    # (WhatsApp's timestamps have whole seconds, so within one second a customer's message may list before the
    # reply it answers: compared as counts.)
    assert sorted((m["direction"], m["sentBy"]) for m in listed) == sorted(
        [("inbound", "customer")] * 3 + [("outbound", "bot")] * 3 + [("outbound", "operator")]
    )
    assert listed[0]["sentBy"] == "operator" and listed[0]["id"] == pending["id"]
    assert len({m["senderId"] for m in listed if m["direction"] == "outbound"}) == 1

    # Handing back: the next message starts the bot again.
    back = await client.post(f"/api/conversations/{conversation['id']}/handoff", json={"handedOff": False})
    assert back.status_code == 200 and back.json()["isHandedOff"] is False
    await loop.say({"text": "hi"})
    await loop.wait_sent(6)


async def test_two_messages_at_once_are_handled_one_after_the_other(loop, database_url: str, waiter) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await asyncio.gather(loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}}),
                         loop.say({"listReply": {"id": "veggie", "title": "Veggie"}}))
    sent = await loop.wait_sent(4)
    # Whatever order they arrived in, each was handled on the state the previous one left.
    with psycopg.connect(database_url) as conn:
        history = conn.execute('SELECT "nodeHistory" FROM conversation_contexts WHERE "isActive"').fetchone()
    assert history is not None
    # In arrival order: the pizza list, then the quantity question. The other way round (they are two POSTs, and
    # WhatsApp does not order webhooks), the list reply first meets the menu and is asked again: one more reply.
    assert len(sent) in (4, 5)


async def test_delivery_retries_temporary_errors_and_fails_permanent_ones(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
    await client.post(f"/api/conversations/{conversation}/handoff", json={"handedOff": True})

    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "http_500", "count": 2})
    ok = await client.post(f"/api/conversations/{conversation}/messages",
                           json={"type": "text", "content": {"body": "after two 500s"}})
    sent = await loop.wait_sent(3)
    assert sent[2]["payload"]["text"]["body"] == "after two 500s"

    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "error_131026", "count": 1})
    failed = await client.post(f"/api/conversations/{conversation}/messages",
                               json={"type": "text", "content": {"body": "undeliverable"}})
    message_id = failed.json()["id"]

    async def is_failed() -> object:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT status::text, error FROM messages WHERE id = %s", (message_id,)).fetchone()
        return row if row and row[0] == "failed" else None

    row = await waiter(is_failed, limit=15)
    assert isinstance(row, tuple) and row[1]["code"] == 131026
    messages = (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"]
    shown = next(m for m in messages if m["id"] == message_id)
    assert shown["status"] == "failed" and shown["error"]["code"] == 131026
    # The title is for people (Meta's title from its message), the Graph API's exception type has its own field.
    assert shown["error"]["title"] == "Message Undeliverable"
    assert shown["error"]["type"] == "OAuthException"
    assert shown["error"]["message"] == "(#131026) Message Undeliverable."
    assert shown["error"]["details"] and shown["error"]["fbtraceId"]
    assert ok.status_code == 202


async def test_operator_sends_are_validated_and_respect_the_window(
    loop, client: httpx.AsyncClient, database_url: str, app_context: AppContext  # type: ignore[no-untyped-def]
) -> None:
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
    too_many = {"type": "interactive", "content": {"kind": "buttons", "body": "Pick", "buttons": [
        {"id": str(i), "title": f"B{i}"} for i in range(4)]}}
    response = await client.post(f"/api/conversations/{conversation}/messages", json=too_many)
    assert response.status_code == 422
    assert any("buttons" in d["field"] for d in response.json()["error"]["details"])
    long_title = {"type": "interactive", "content": {"kind": "buttons", "body": "Pick",
                                                      "buttons": [{"id": "a", "title": "x" * 21}]}}
    assert (await client.post(f"/api/conversations/{conversation}/messages", json=long_title)).status_code == 422
    assert (await client.post(f"/api/conversations/{conversation}/messages",
                              json={"type": "text", "content": {"body": "x" * 4097}})).status_code == 422
    # Text PostgreSQL cannot hold is refused with the field named, not by the database with none.
    nul = {"type": "interactive", "content": {"kind": "buttons", "body": "Pick",
                                              "buttons": [{"id": "a", "title": "A\u0000"}]}}
    refused = await client.post(f"/api/conversations/{conversation}/messages", json=nul)
    assert refused.status_code == 422
    assert "content.buttons.0.title" in refused.json()["error"]["details"][0]["message"]
    # A text of only spaces would reach the customer as an empty bubble.
    blank = await client.post(f"/api/conversations/{conversation}/messages",
                              json={"type": "text", "content": {"body": " \n "}})
    assert blank.status_code == 422 and "only spaces" in blank.text
    # With no WhatsApp config, refused at once (409, as POST /api/conversations), not queued to fail later.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute('UPDATE whatsapp_config SET "isActive" = false')
    app_context.active_config.invalidate()
    try:
        unconfigured = await client.post(f"/api/conversations/{conversation}/messages",
                                         json={"type": "text", "content": {"body": "anyone there?"}})
        assert unconfigured.status_code == 409 and unconfigured.json()["error"]["code"] == "not_configured"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute('UPDATE whatsapp_config SET "isActive" = true')
        app_context.active_config.invalidate()

    # Close the window: the customer last wrote 25 hours ago.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE conversations SET \"lastCustomerMessageAt\" = now() - interval '25 hours'")
    closed = await client.post(f"/api/conversations/{conversation}/messages",
                               json={"type": "text", "content": {"body": "too late"}})
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "window_closed"
    listed = (await client.get("/api/conversations")).json()["items"][0]
    assert listed["isWindowOpen"] is False
    template = await client.post(f"/api/conversations/{conversation}/messages", json={
        "type": "template", "content": {"name": "order_update", "language": "en_US", "bodyParameters": ["42"]}})
    assert template.status_code == 202, template.text
    sent = await loop.wait_sent(3)
    assert sent[2]["payload"]["type"] == "template"


async def test_the_context_after_a_handoff_says_why_the_bot_stopped(loop, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
    running = (await client.get(f"/api/conversations/{conversation}/context")).json()
    assert running["isActive"] is True and running["currentNodeId"] == "menu" and running["endedReason"] is None
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to a human"}})
    await loop.wait_sent(3)
    ended = (await client.get(f"/api/conversations/{conversation}/context")).json()
    assert ended["isActive"] is False and ended["endedReason"] == "handoff"


async def test_a_conversation_says_whether_a_bot_ever_ran_in_it(loop, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    """The inbox asked every conversation it opened for its bot context, and one where no bot ever ran answered
    404 (as documented), an error in the browser's console each time. The conversation now says whether there is
    a context to ask for (`hasBotContext`), and the context route keeps its contract."""
    opened = await client.post("/api/conversations", json={"customerPhoneNumber": "+14155550177"})
    assert opened.status_code == 201 and opened.json()["hasBotContext"] is False, opened.text
    first = opened.json()["id"]
    assert (await client.get(f"/api/conversations/{first}")).json()["hasBotContext"] is False
    assert (await client.get(f"/api/conversations/{first}/context")).status_code == 404
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    [talked] = [c["id"] for c in (await client.get("/api/conversations")).json()["items"] if c["id"] != first]
    assert (await client.get(f"/api/conversations/{talked}")).json()["hasBotContext"] is True
    assert (await client.get(f"/api/conversations/{talked}/context")).status_code == 200


async def test_test_connection_and_the_daily_dashboard(loop, client: httpx.AsyncClient, database_url: str) -> None:  # type: ignore[no-untyped-def]
    ok = (await client.post("/api/whatsapp-config/test")).json()
    assert ok == {"ok": True, "displayPhoneNumber": "15550001111", "verifiedName": "Demo Pizza Place",
                  "qualityRating": "GREEN"}
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to a human"}})
    await loop.wait_sent(3)
    overview = (await client.get("/api/stats/daily", params={"days": 3})).json()
    assert len(overview["days"]) == 3
    today = overview["days"][-1]
    assert today["conversationsStarted"] == 1 and today["handedOff"] == 1
    assert today["messagesIn"] == 2 and today["messagesOut"] == 3
    assert (await client.get("/api/stats/daily", params={"days": 0})).status_code == 422

    # An operator's take-over counts as handed off, and still does after the hand-back (which resumes the bot).
    await loop.say({"text": "hi", "from": "+15550002222", "name": "Bob"})
    await loop.wait_sent(5)
    other = next(c["id"] for c in (await client.get("/api/conversations")).json()["items"]
                 if c["customerPhone"].endswith("15550002222"))
    assert (await client.post(f"/api/conversations/{other}/handoff", json={"handedOff": True})).status_code == 200
    assert (await client.get("/api/stats/daily", params={"days": 1})).json()["days"][-1]["handedOff"] == 2
    assert (await client.post(f"/api/conversations/{other}/handoff", json={"handedOff": False})).status_code == 200
    context = (await client.get(f"/api/conversations/{other}/context")).json()
    assert context["isActive"] is True
    assert (await client.get("/api/stats/daily", params={"days": 1})).json()["days"][-1]["handedOff"] == 2
    # the chatbot's own figures agree: both contexts were handed to a person, one of them runs again
    stats = (await client.get(f"/api/chatbots/{context['chatbotId']}/stats")).json()
    assert (stats["handedOff"], stats["active"]) == (2, 1)
    # taken over again another day, it stays counted on the first take-over's day (UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE conversation_contexts SET \"engineState\" = \"engineState\" || jsonb_build_object('handedOffAt',"
            " to_jsonb(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 second'))"
            " WHERE \"conversationId\" = %s", (other,))
    assert (await client.post(f"/api/conversations/{other}/handoff", json={"handedOff": True})).status_code == 200
    days = (await client.get("/api/stats/daily", params={"days": 2})).json()["days"]
    assert [d["handedOff"] for d in days] == [1, 1]

    config = (await client.get("/api/whatsapp-config")).json()
    await client.put("/api/whatsapp-config", json={
        "phoneNumberId": config["phoneNumberId"], "businessAccountId": config["businessAccountId"],
        "webhookVerifyToken": config["webhookVerifyToken"], "accessToken": "wrong-token",
        "graphApiUrl": config["graphApiUrl"]})
    bad = (await client.post("/api/whatsapp-config/test")).json()
    assert bad["ok"] is False and bad["error"]["code"] == 190


async def test_workers_alone_do_the_same_without_the_fast_path(loop, app_context: AppContext) -> None:  # type: ignore[no-untyped-def]
    """`serve --no-workers` plus `worker` processes: every step goes through the queue."""
    app_context.enable_fast_path(False)
    await loop.say({"text": "hi"})
    sent = await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "hours", "title": "Opening hours"}})
    sent = await loop.wait_sent(4)
    assert _bodies(sent)[2] == "We are open every day from 11:00 to 23:00."
    assert len(await loop.sent()) == 4


async def test_a_workers_lane_does_the_fresh_jobs_of_a_serve_without_workers(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext
) -> None:
    """`serve --no-workers` notifies at commit; a `worker`'s lane takes the fresh jobs in batches at once."""
    import asyncio

    from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane

    app_context.hand_fresh_jobs_to_workers()
    # The queue's workers (running in this test) would wait an hour: whatever is answered, the lane did, woken
    # by the notification (it would poll only hourly too).
    app_context.jobs.grace = 3600
    flows = app_context.batchers.get("flows")
    before = flows.items_written if flows else 0
    lane = asyncio.create_task(FreshJobLane(app_context, poll_seconds=3600).run())
    try:
        customers = [f"+1555400{i:04d}" for i in range(8)]
        await asyncio.gather(*(loop.say({"from": phone, "name": f"L{i}", "text": "hi"})
                               for i, phone in enumerate(customers)))
        sent = await loop.wait_sent(16)
        assert {str(item["to"]) for item in sent} == {phone.lstrip("+") for phone in customers}
        await loop.say({"from": customers[0], "buttonReply": {"id": "hours", "title": "Opening hours"}})
        sent = await loop.wait_sent(18)
        assert _bodies(sent)[-2] == "We are open every day from 11:00 to 23:00."
        assert app_context.batchers["flows"].items_written - before >= 9
        assert len(await loop.sent()) == 18  # each reply once
    finally:
        lane.cancel()
        await asyncio.gather(lane, return_exceptions=True)
        app_context.enable_fast_path()


async def test_a_workers_lane_finds_fresh_jobs_no_notification_named(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext
) -> None:
    """Jobs deferred while no lane listened (a worker starting, a lost connection) are found by its search."""
    import asyncio

    from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane

    app_context.hand_fresh_jobs_to_workers()
    app_context.jobs.grace = 3600
    app_context.jobs.announce = False  # nobody is told
    await loop.say({"text": "hi"})
    lane = asyncio.create_task(FreshJobLane(app_context, poll_seconds=0.2).run())
    try:
        sent = await loop.wait_sent(2)
        assert _bodies(sent)[0].startswith("Hi Alice!")
    finally:
        lane.cancel()
        await asyncio.gather(lane, return_exceptions=True)
        app_context.enable_fast_path()


async def test_a_serve_without_workers_keeps_fresh_jobs_longer_while_the_workers_lanes_are_behind(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext, database_url: str
) -> None:
    """Split mode: the workers' lanes report their lag over PostgreSQL, and `serve --no-workers` grows the grace of
    the fresh jobs it defers with it, as all-in-one `serve` does with its own fast path's lag."""
    from whatsapp_builder.jobs.lane_lag import report_lane_lag

    app_context.hand_fresh_jobs_to_workers()
    app_context.jobs.grace = grace = 30.0  # nothing here takes the jobs: they stay to be looked at
    assert app_context.lane_lag is not None
    listener = asyncio.create_task(app_context.lane_lag.listen(database_url))
    reported = [7.5]
    reporter = asyncio.create_task(report_lane_lag(app_context, "w1", lambda: reported[0], every=0.05))

    def ahead() -> float:
        """How far ahead the newest flow job is scheduled."""
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT extract(epoch FROM scheduled_at - now()) FROM procrastinate_jobs"
                               " WHERE task_name = 'process_inbound' ORDER BY id DESC LIMIT 1").fetchone()
        assert row is not None
        return float(row[0])

    try:
        async def heard(seconds: float) -> bool:
            return app_context.jobs.fresh_job_grace() == grace + seconds

        from tests.conftest import wait_until_async

        await wait_until_async(lambda: heard(15.0), message="the lane's lag heard")
        await loop.say({"from": "+15554100001", "name": "Behind", "text": "hi"})
        assert ahead() >= grace + 15.0 - 1
        reported[0] = 0.0  # caught up
        await wait_until_async(lambda: heard(0.0), message="the lane caught up")
        await loop.say({"from": "+15554100002", "name": "Caught up", "text": "hi"})
        assert grace - 1 <= ahead() < grace + 1
    finally:
        for task in (reporter, listener):
            task.cancel()
        await asyncio.gather(reporter, listener, return_exceptions=True)
        app_context.enable_fast_path()
        app_context.lane_lag = None


async def test_a_temporary_send_failure_waits_for_its_backoff_instead_of_being_sent_again_at_once(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext, database_url: str, waiter
) -> None:
    """The lane (and the fast path) count a failed first try as an attempt and leave the job to its backoff: they
    do not take it again at once (it was sent dozens of times a second, against a rate limit)."""
    import asyncio

    from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane

    app_context.hand_fresh_jobs_to_workers()
    app_context.jobs.grace = 3600
    base = app_context.settings.send_retry_base_seconds
    app_context.settings.send_retry_base_seconds = 60  # a backoff of seconds at least (429's Retry-After: 1)
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "http_429", "count": 50})
    lane = asyncio.create_task(FreshJobLane(app_context, poll_seconds=3600).run())
    try:
        await loop.say({"text": "hi"})

        def postponed(count: int) -> object:
            async def check() -> object:
                with psycopg.connect(database_url) as conn:
                    rows = conn.execute("SELECT attempts, scheduled_at > now() FROM procrastinate_jobs"
                                        " WHERE task_name = 'deliver_message' AND attempts > 0").fetchall()
                return rows if len(rows) >= count else None
            return check

        assert await waiter(postponed(1)) == [(1, True)]
        # Another customer wakes the lane again (its notification, its jobs): still one try per conversation.
        await loop.say({"from": "+15559990000", "name": "Other", "text": "hi"})
        assert await waiter(postponed(2)) == [(1, True), (1, True)]
        left = (await loop.http.get(loop.simulator.url + "/_simulator/failures")).json()["remaining"]
        assert left == 50 - 2
    finally:
        lane.cancel()
        await asyncio.gather(lane, return_exceptions=True)
        app_context.settings.send_retry_base_seconds = base
        await loop.http.delete(loop.simulator.url + "/_simulator/failures")
        app_context.enable_fast_path()


async def test_a_lane_started_after_the_jobs_were_queued_still_takes_them(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext
) -> None:
    """A worker starting (or reconnecting its LISTEN) after fresh jobs were committed missed their notification:
    it looks through the queue once when it starts listening, not a poll interval later (an hour here)."""
    import asyncio

    from whatsapp_builder.whatsapp.fresh_jobs import FreshJobLane

    app_context.hand_fresh_jobs_to_workers()
    app_context.jobs.grace = 3600  # the queue's own workers would take them only after this
    try:
        await loop.say({"text": "hi"})  # stored and queued; nobody is listening yet
        lane = asyncio.create_task(FreshJobLane(app_context, poll_seconds=3600).run())
        try:
            sent = await loop.wait_sent(2, limit=10)
            assert sent[0]["payload"]["text"]["body"].startswith("Hi Alice!")
        finally:
            lane.cancel()
            await asyncio.gather(lane, return_exceptions=True)
    finally:
        app_context.enable_fast_path()


async def test_many_customers_at_once_are_answered_in_shared_transactions(  # type: ignore[no-untyped-def]
    loop, database_url: str, app_context: AppContext
) -> None:
    import asyncio

    flows = app_context.batchers.get("flows")
    before = (flows.items_written, flows.batches_written) if flows else (0, 0)
    customers = [f"+1555200{i:04d}" for i in range(30)]
    await asyncio.gather(*(loop.say({"from": phone, "name": f"C{i}", "text": "hi"}) for i, phone in enumerate(customers)))
    sent = await loop.wait_sent(60)
    by_customer: dict[str, list[str]] = {}
    for item in sent:
        by_customer.setdefault(str(item["to"]), []).append(_bodies([item])[0])
    assert len(by_customer) == 30
    for i, phone in enumerate(customers):
        replies = by_customer[phone.lstrip("+")]
        # The welcome with this customer's own name, then the menu: in order, once each.
        assert len(replies) == 2 and replies[0].startswith(f"Hi C{i}!") and "Welcome" not in replies[1]
    assert len({replies[1] for replies in by_customer.values()}) == 1
    with psycopg.connect(database_url) as conn:
        contexts = conn.execute('SELECT count(*) FROM conversation_contexts WHERE "isActive"').fetchone()
        jobs = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'process_inbound'").fetchone()
    assert contexts == (30,) and jobs == (0,)
    flows = app_context.batchers["flows"]
    items, batches = flows.items_written - before[0], flows.batches_written - before[1]
    assert items == 30 and batches < items  # conversations that arrived together shared a flow transaction


async def test_temporary_send_failures_under_load_lose_nothing_and_keep_each_conversation_in_order(  # type: ignore[no-untyped-def]
    loop, database_url: str, waiter
) -> None:
    import asyncio

    # A few Graph API 500s while many conversations are delivered together: the fast path leaves the failed job
    # (and that conversation's next ones) to the workers, which retry with backoff.
    await loop.http.post(loop.simulator.url + "/_simulator/failures", json={"mode": "http_500", "count": 4})
    customers = [f"+1555300{i:04d}" for i in range(12)]
    await asyncio.gather(*(loop.say({"from": phone, "name": f"D{i}", "text": "hi"}) for i, phone in enumerate(customers)))
    sent = await loop.wait_sent(24, limit=30)
    by_customer: dict[str, list[str]] = {}
    for item in sent:
        by_customer.setdefault(str(item["to"]), []).append(_bodies([item])[0])
    for i, phone in enumerate(customers):
        replies = by_customer[phone.lstrip("+")]
        assert len(replies) == 2 and replies[0].startswith(f"Hi D{i}!"), replies  # each once, welcome first

    async def all_sent() -> object:
        with psycopg.connect(database_url) as conn:
            pending = conn.execute("SELECT count(*) FROM messages WHERE direction = 'outbound'"
                                   " AND status IN ('pending', 'failed')").fetchone()
        return pending == (0,) or None

    assert await waiter(all_sent, limit=15)


async def test_when_the_fast_path_fails_the_workers_deliver_after_the_grace(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext, monkeypatch
) -> None:
    import time

    from whatsapp_builder.whatsapp import fast_path

    async def broken(context: AppContext, conversation_ids: object) -> None:
        raise RuntimeError("fast delivery unavailable")

    monkeypatch.setattr(fast_path, "deliver_conversations", broken)
    app_context.jobs.grace = 0.5
    started = time.monotonic()
    await loop.say({"text": "hi"})
    sent = await loop.wait_sent(2)
    # Nothing is lost: the replies' jobs waited out the grace, then a worker sent them, in order.
    assert time.monotonic() - started >= 0.5
    assert _bodies(sent)[0].startswith("Hi Alice!")


async def test_settings_stored_beyond_what_the_engine_can_use_do_not_stop_the_bots(  # type: ignore[no-untyped-def]
    loop, database_url: str
) -> None:
    """Written before the API checked them (or by hand): the engine falls back to the defaults."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE chatbots SET metadata = %s::jsonb",
                     ('{"sessionTimeoutMinutes": 1e300, "restartKeywords": ["menu", 7, null]}',))
    await loop.say({"text": "hi"})
    sent = await loop.wait_sent(2)
    assert _bodies(sent)[0].startswith("Hi Alice!")


async def test_a_customer_opening_the_chat_gets_the_welcome_once(
    loop, client: httpx.AsyncClient  # type: ignore[no-untyped-def]
) -> None:
    """WhatsApp's request_welcome (a customer opens the chat for the first time) opens the 24-hour window and
    starts the bot; one arriving while the bot is under way changes nothing."""
    await loop.say({"requestWelcome": True})
    sent = await loop.wait_sent(2)
    assert _bodies(sent) == ["Hi Alice! Welcome to Pizza Place \U0001f355", "What would you like to do?"]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isWindowOpen"] is True
    messages = (await client.get(f"/api/conversations/{conversation['id']}/messages")).json()["items"]
    assert [(m["type"], m["content"]) for m in messages if m["direction"] == "inbound"] == [
        ("system", {"kind": "request_welcome"})]
    # Greeted by the bot, the opened chat leaves no unread badge (it stayed at 1 for good).
    assert conversation["unreadCount"] == 0

    await loop.say({"requestWelcome": True})
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    sent = await loop.wait_sent(3)
    assert len(sent) == 3 and sent[2]["payload"]["interactive"]["type"] == "list"


async def test_an_operator_reading_a_handed_off_conversation_clears_its_unread_count(
    loop, client: httpx.AsyncClient, waiter  # type: ignore[no-untyped-def]
) -> None:
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
    await client.post(f"/api/conversations/{conversation}/handoff", json={"handedOff": True})
    first = await loop.say({"text": "is anyone there?"})
    second = await loop.say({"text": "hello??"})

    async def unread() -> int:
        return int((await client.get(f"/api/conversations/{conversation}")).json()["unreadCount"])

    async def two_unread() -> bool:
        return await unread() == 2  # the bot is silent, so nothing marks them read

    await waiter(two_unread, message="two unread messages")
    before = (await client.get(f"/api/conversations/{conversation}")).json()["updatedAt"]
    answer = await client.post(f"/api/conversations/{conversation}/read")
    assert answer.status_code == 200 and answer.json()["unreadCount"] == 0
    import datetime as dt

    # Changed (its unread count), so a newer updatedAt.
    assert dt.datetime.fromisoformat(answer.json()["updatedAt"]) > dt.datetime.fromisoformat(before)
    assert {m["status"] for m in (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"]
            if m["direction"] == "inbound"} == {"read"}

    async def receipt() -> bool:
        reads = (await loop.http.get(loop.simulator.url + "/_simulator/reads")).json()["items"]
        return any(r.get("messageId") == second["messageId"] for r in reads)

    await waiter(receipt, message="WhatsApp is told the newest message was read")
    assert first["messageId"] != second["messageId"]
    again = await client.post(f"/api/conversations/{conversation}/read")
    assert again.status_code == 200 and again.json()["unreadCount"] == 0
    missing = await client.post("/api/conversations/0193a2f0-11aa-7b2c-8d3e-4f5061728394/read")
    assert missing.status_code == 404


async def test_a_customer_the_bot_hands_to_a_person_stays_unread_until_an_operator_opens_it(
    loop, client: httpx.AsyncClient, waiter  # type: ignore[no-untyped-def]
) -> None:
    """The bot's reply marks what the customer wrote as read (blue ticks, and the inbox's unread count back to 0),
    but "one moment, a member of our team will answer you" answers nothing: a customer asking for a person must
    stand out in the inbox until someone opens the conversation (a review found them buried under newer ones)."""
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]

    async def unread() -> int:
        return int((await client.get(f"/api/conversations/{conversation}")).json()["unreadCount"])

    async def menu_read() -> bool:
        return await unread() == 0  # the menu answered "hi"

    await waiter(menu_read, message="the bot's read mark on hi")
    asked = await loop.say({"text": "talk to a human"})
    sent = await loop.wait_sent(3)
    assert "a member of our team will answer you" in sent[2]["payload"]["text"]["body"]
    # The hand-off message is the last thing the bot does: once WhatsApp has it read, so would a read mark be.
    await waiter(lambda: _outbound_statuses(client, conversation, "read", 3), message="the hand-off message read")
    assert await unread() == 1
    reads = (await loop.http.get(loop.simulator.url + "/_simulator/reads")).json()["items"]
    assert all(r.get("messageId") != asked["messageId"] for r in reads)
    opened = await client.post(f"/api/conversations/{conversation}/read")
    assert opened.json()["unreadCount"] == 0

    async def receipt() -> bool:
        reads = (await loop.http.get(loop.simulator.url + "/_simulator/reads")).json()["items"]
        return any(r.get("messageId") == asked["messageId"] for r in reads)

    await waiter(receipt, message="WhatsApp is told once the operator opened it")


async def _outbound_statuses(client: httpx.AsyncClient, conversation: str, status: str, count: int) -> bool:
    items = (await client.get(f"/api/conversations/{conversation}/messages")).json()["items"]
    return sum(1 for m in items if m["direction"] == "outbound" and m["status"] == status) >= count


async def test_a_message_delivered_after_its_window_gets_no_blue_ticks_and_stays_unread(
    loop, client: httpx.AsyncClient, database_url: str, waiter  # type: ignore[no-untyped-def]
) -> None:
    """Meta retries a webhook for days: to a message sent 25 hours ago no reply can go (the window is closed), so
    the bot does not run (no refused replies, no context waiting on questions never sent), the customer does
    not see it read, and the operator sees it unread (a template can answer)."""
    import hashlib
    import hmac
    import json
    import time

    from tests.conftest import SIMULATOR_APP_SECRET
    from whatsapp_builder.demo import DEMO_PHONE_NUMBER_ID

    sent_at = int(time.time()) - 25 * 3600
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": DEMO_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Late"}, "wa_id": "15550800001"}],
        "messages": [{"from": "15550800001", "id": "wamid.LATE1", "timestamp": str(sent_at), "type": "text",
                      "text": {"body": "hi"}}],
    }}]}]}
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SIMULATOR_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await loop.http.post(loop.server.url + "/webhooks/whatsapp", content=body,
                                    headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text

    # The flow job is done (nothing left queued), and it wrote nothing ...
    async def queue_empty() -> bool:
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
                                ).fetchone() == (0,)

    await waiter(queue_empty)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE direction = 'outbound'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM conversation_contexts").fetchone() == (0,)
    # ... and the customer's message was not marked read, here or on WhatsApp.
    reads = (await loop.http.get(loop.simulator.url + "/_simulator/reads")).json()["items"]
    assert reads == []
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status::text FROM messages WHERE direction = 'inbound'").fetchone() == ("delivered",)
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["unreadCount"] == 1 and conversation["isWindowOpen"] is False


async def test_a_reply_queued_while_the_one_before_it_is_being_sent_goes_right_after_it(  # type: ignore[no-untyped-def]
    loop, app_context, monkeypatch
) -> None:
    """A customer's second message while the bot's first answer is still at the Graph API: its replies go as soon
    as that batch is done, not after the workers' grace (set to two minutes here, so only the fast path can send
    within the test's deadline)."""
    from whatsapp_builder.whatsapp.graph_client import GraphClient

    app_context.jobs.grace = 120.0
    release = asyncio.Event()
    held = asyncio.Event()
    original = GraphClient.send

    async def send(self: GraphClient, *args: object, **kwargs: object) -> object:
        if not held.is_set():  # the first send of the first answer waits at "Meta"
            held.set()
            await release.wait()
        return await original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(GraphClient, "send", send)
    await loop.say({"text": "hi"})
    await asyncio.wait_for(held.wait(), 10)
    await loop.say({"buttonReply": {"id": "hours", "title": "Opening hours"}})  # its replies queue behind
    release.set()
    sent = await loop.wait_sent(4, limit=10)
    assert _bodies(sent)[:2] == ["Hi Alice! Welcome to Pizza Place \U0001f355", "What would you like to do?"]
    assert "open" in _bodies(sent)[2].lower()


async def test_handing_back_resumes_the_bot_where_the_take_over_stopped_it(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    """An operator takes over while the bot waits for a pizza from its list, then hands back: the customer's
    tap on the list they were shown carries on the order (a bot that stopped by itself starts anew instead,
    see test_talk_to_a_human_hands_off_and_the_operator_answers)."""
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
    taken = await client.post(f"/api/conversations/{conversation}/handoff", json={"handedOff": True})
    assert taken.status_code == 200
    paused = (await client.get(f"/api/conversations/{conversation}/context")).json()
    assert paused["isActive"] is False and paused["endedReason"] == "handoff"
    back = await client.post(f"/api/conversations/{conversation}/handoff", json={"handedOff": False})
    assert back.status_code == 200 and back.json()["isHandedOff"] is False
    resumed = (await client.get(f"/api/conversations/{conversation}/context")).json()
    assert resumed["isActive"] is True and resumed["endedReason"] is None
    assert resumed["id"] == paused["id"] and resumed["currentNodeId"] == paused["currentNodeId"]
    await loop.say({"listReply": {"id": "veggie", "title": "Veggie"}})
    sent = await loop.wait_sent(4)
    assert "How many Veggie pizzas" in _bodies(sent)[3]
    # Handing back twice changes nothing more.
    again = await client.post(f"/api/conversations/{conversation}/handoff", json={"handedOff": False})
    assert again.status_code == 200
    assert (await client.get(f"/api/conversations/{conversation}/context")).json()["id"] == paused["id"]


async def test_while_the_fast_path_is_behind_fresh_jobs_are_kept_from_the_workers_longer(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext, database_url: str, monkeypatch
) -> None:
    """Past the fast path's capacity, its fresh jobs wait in memory longer than the grace; workers fetching them one
    by one would race it for each and answer at a fraction of its speed. So a fresh job's grace grows by twice the
    lag at the time it is queued (bench: 1,200 msg/s offered, 767 answered a second before, 955 after)."""
    from tests.conftest import wait_until_async
    from whatsapp_builder.whatsapp import fast_path

    original = fast_path.process_inbound_batch
    gate = asyncio.Event()

    async def held(context: AppContext, conversation_ids: list[object], *rest: object) -> object:
        await gate.wait()
        return await original(context, conversation_ids, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(fast_path, "process_inbound_batch", held)
    grace = app_context.settings.fast_path_grace_seconds
    customers = [f"+1555400{i:04d}" for i in range(4)]
    try:
        # Two flow batches in flight (held), the third customer waits for one: the fast path falls behind.
        for i, phone in enumerate(customers[:3]):
            await loop.say({"from": phone, "name": f"L{i}", "text": "hi"})
        flows = app_context.batchers["flows"]

        async def behind() -> bool:
            return flows.backlog_seconds() > 0.6

        await wait_until_async(behind, limit=10, message="a backlog")
        lag = app_context.fast_path_lag()
        await loop.say({"from": customers[3], "name": "L3", "text": "hi"})
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT extract(epoch FROM scheduled_at - now()) FROM procrastinate_jobs"
                " WHERE task_name = 'process_inbound' ORDER BY id"
            ).fetchall()
        ahead = [float(row[0]) for row in rows]
        assert len(ahead) == 4
        assert all(seconds < grace + 0.5 for seconds in ahead[:3])  # queued before it fell behind
        assert ahead[3] >= grace + 2 * lag - 0.5  # the fourth: kept for the fast path that much longer
    finally:
        gate.set()

    # And the fast path answers every one of them all the same: each customer's welcome and menu. By text, not by
    # count: a send whose answer a loaded machine lost to the test's 1 s Graph API timeout is sent again (the Graph
    # API has no idempotency key), which is no failure of what this test checks.
    async def everyone_answered() -> bool:
        sent = await loop.sent()
        answered = {(str(item["to"]), body) for item, body in zip(sent, _bodies(sent), strict=True)}
        return all(len({body for to, body in answered if to == phone.lstrip("+")}) == 2 for phone in customers)

    await wait_until_async(everyone_answered, limit=15, message="a welcome and a menu for each customer")


async def test_a_double_tap_answers_nothing_and_a_changed_mind_on_the_list_is_taken(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, database_url: str
) -> None:
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    tapped = await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    sent = await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "pepperoni", "title": "Pepperoni"}})
    sent = await loop.wait_sent(4)
    assert "How many Pepperoni pizzas" in _bodies(sent)[3]
    # The simulator quotes the prompt a tap answers, as WhatsApp does in `context.id`.
    quoted = _quoted(database_url, tapped["messageId"])
    assert quoted == (sent[1]["wamid"],)

    # The customer taps the pizza again (a double tap): nothing. Without this, it got "please enter a number" and
    # counted as a failed try.
    await loop.say({"listReply": {"id": "pepperoni", "title": "Pepperoni"}})
    # Then they change their mind on that same list: the list takes it, and asks the quantity for that pizza.
    await loop.say({"listReply": {"id": "veggie", "title": "Veggie"}})
    sent = await loop.wait_sent(5)
    assert "How many Veggie pizzas" in _bodies(sent)[4]
    await loop.say({"text": "2"})
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[5].startswith("Thanks Alice! Your order of 2 x Veggie is confirmed")
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    listed = (await client.get(f"/api/conversations/{conversation['id']}/messages")).json()["items"]
    assert sum(m["direction"] == "inbound" for m in listed) == 6  # the double tap is kept for the operator
    assert len(await loop.sent()) == 6


async def test_talk_to_a_human_on_the_first_menu_while_a_question_waits_reaches_a_human(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    await loop.say({"text": "hi"})
    menu = (await loop.wait_sent(2))[1]
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "pepperoni", "title": "Pepperoni"}})
    await loop.wait_sent(4)
    # Scrolled up to the first menu: the menu takes the tap, and the flow goes on from there.
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to a human"}, "contextMessageId": menu["wamid"]})
    sent = await loop.wait_sent(5)
    assert "a member of our team will answer you" in _bodies(sent)[4]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True


async def test_typing_talk_to_a_human_while_the_quantity_is_asked_reaches_a_human(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    """The demo's handoff keywords: typed at the quantity question, it was a wrong answer ("Please send a whole
    number...") and the customer never reached anyone."""
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "pepperoni", "title": "Pepperoni"}})
    await loop.wait_sent(4)
    await loop.say({"text": "Talk to a human!"})
    sent = await loop.wait_sent(5)
    assert "a member of our team will answer you" in _bodies(sent)[4]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True


async def test_a_tap_no_bot_took_is_no_double_tap_for_the_same_tap_after_a_hand_back(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    await loop.say({"text": "hi"})
    menu = (await loop.wait_sent(2))[1]
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to a human"}})
    await loop.wait_sent(3)
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True
    hours = {"buttonReply": {"id": "hours", "title": "Opening hours"}, "contextMessageId": menu["wamid"]}
    await loop.say(hours)  # an operator has the conversation: the bot stays silent
    back = await client.post(f"/api/conversations/{conversation['id']}/handoff", json={"handedOff": False})
    assert back.status_code == 200, back.text
    # The same tap again, seconds later: the first one was never answered, so this is no double tap. The
    # hand-off ended the flow; a new one goes on from the menu the tap was on (docs/flows.md): the hours, then
    # the menu again.
    await loop.say(hours)
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[3:] == ["We are open every day from 11:00 to 23:00.", "What would you like to do?"]


async def _publish_one_tap_bot(
    client: httpx.AsyncClient, name: str, keyword: str, text: str, buttons: list[tuple[str, str]], thanks: str
) -> None:
    """A chatbot started by `keyword` that asks one question answered by a tap (`buttons`: (id, title)), and
    ends the flow with `thanks`, whichever button."""

    def node(node_id: str, node_type: str, **data: object) -> dict[str, object]:
        return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}

    graph = {
        "nodes": [node("start", "start", triggerKeywords=[keyword]),
                  node("ask", "buttons", text=text, buttons=[{"id": i, "title": t} for i, t in buttons]),
                  node("done", "end", text=thanks)],
        "edges": [{"id": "e0", "source": "start", "target": "ask"},
                  *({"id": f"e-{i}", "source": "ask", "target": "done", "sourceHandle": i} for i, _ in buttons)],
    }
    chatbot = (await client.post("/api/chatbots", json={"name": name, **graph})).json()
    published = await client.post(f"/api/chatbots/{chatbot['id']}/publish")
    assert published.status_code == 200, published.text


async def _publish_rating_bot(client: httpx.AsyncClient) -> None:
    await _publish_one_tap_bot(client, "Rating", "rate", "How was your pizza?", [("good", "Good"), ("bad", "Bad")],
                               "Thanks for telling us!")


async def _at_the_quantity_question(loop) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Through the demo to its last question (a Veggie pizza chosen): returns the menu the customer saw."""
    await loop.say({"text": "hi"})
    menu: dict[str, object] = (await loop.wait_sent(2))[1]
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "veggie", "title": "Veggie"}})
    await loop.wait_sent(4)
    return menu


async def test_a_text_replying_to_the_list_with_another_pizza_goes_back_to_it(loop) -> None:  # type: ignore[no-untyped-def]
    """Swipe to reply on the pizza list while the quantity is asked, "Actually the Margherita": the pizza changes, as
    a tap on that row would (before: "Please send a whole number...", then an order of the Veggie). A text quoting
    the list that names no row of it is an answer to the quantity, as any text."""
    await _at_the_quantity_question(loop)
    pizza_list = (await loop.sent())[2]
    assert pizza_list["type"] == "interactive"
    await loop.say({"text": "Actually the Margherita", "contextMessageId": pizza_list["wamid"]})
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[4] == "How many Margherita pizzas would you like? (1-10)"
    await loop.say({"text": "2", "contextMessageId": pizza_list["wamid"]})
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[5] == "Thanks Alice! Your order of 2 x Margherita is confirmed and will be ready in 30 minutes."


async def test_a_tap_on_the_last_question_tapped_three_times_is_answered_once(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    await _publish_rating_bot(client)
    await loop.say({"text": "rate"})
    await loop.wait_sent(1)
    good = {"buttonReply": {"id": "good", "title": "Good"}}
    await loop.say(good)
    assert _bodies(await loop.wait_sent(2))[1] == "Thanks for telling us!"
    await loop.say(good)  # a double tap: nothing
    await loop.say(good)  # and a third: the second is no "something written in between"
    await loop.say({"text": "hi"})  # the demo's greeting shows what the taps did before it: nothing
    sent = await loop.wait_sent(4)
    assert _bodies(sent)[2:] == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]


async def test_a_restart_keyword_with_the_answer_that_ends_the_flow_starts_over(loop) -> None:  # type: ignore[no-untyped-def]
    import time

    await _at_the_quantity_question(loop)
    now = str(int(time.time()))
    both = [{"id": "wamid.R2", "timestamp": now, "type": "text", "text": {"body": "2"}},
            {"id": "wamid.RMENU", "timestamp": now, "type": "text", "text": {"body": "menu"}}]
    assert (await _signed_post(loop, both)).status_code == 200
    sent = await loop.wait_sent(7)
    assert _bodies(sent)[4].startswith("Thanks Alice! Your order of 2 x Veggie is confirmed")
    assert _bodies(sent)[5:] == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]


async def test_a_double_tap_on_a_finished_flow_is_caught_when_the_servers_clock_is_behind(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a bot took the first tap compares the time its context was written (the server's clock) with the
    time the tap was stored (the database's): a server 30 s behind must still see that its bot took it."""

    await _publish_rating_bot(client)
    real_plan = runner._Plan

    def behind(**fields: Any) -> Any:
        fields.setdefault("now", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
        return real_plan(**fields)

    monkeypatch.setattr(runner, "_Plan", behind)
    await loop.say({"text": "rate"})
    await loop.wait_sent(1)
    await loop.say({"buttonReply": {"id": "good", "title": "Good"}})
    sent = await loop.wait_sent(2)
    assert _bodies(sent)[1] == "Thanks for telling us!"
    await loop.say({"buttonReply": {"id": "good", "title": "Good"}})  # the double tap: the flow is over, nothing
    await loop.say({"text": "hi"})  # the demo bot's welcome and menu show what the double tap did
    sent = await loop.wait_sent(4)
    assert _bodies(sent)[2:] == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]


async def test_menu_with_punctuation_starts_over_as_the_demos_footer_promises(loop) -> None:  # type: ignore[no-untyped-def]
    await loop.say({"text": "Hi!"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)  # the pizza list
    await loop.say({"text": "Menu!"})
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[3:] == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]


async def test_a_double_tap_delivered_in_one_webhook_is_answered_once(loop) -> None:  # type: ignore[no-untyped-def]
    import copy
    import hashlib
    import hmac
    import json

    from tests.conftest import SIMULATOR_APP_SECRET
    from whatsapp_builder.demo import DEMO_PHONE_NUMBER_ID
    from whatsapp_builder.simulator import payloads

    await loop.say({"text": "hi"})
    menu = (await loop.wait_sent(2))[1]
    # WhatsApp batches under load: both taps of the menu's "Order a pizza" arrive in one POST, so the bot handles
    # them in one go, and the pizza list the first one asks for is not stored yet when the second one is read.
    payload = payloads.build_inbound_webhook(
        payloads.button_reply_message("order", "Order a pizza"), from_phone="+15551234567", name="Alice",
        context_message_id=str(menu["wamid"]), phone_number_id=DEMO_PHONE_NUMBER_ID,
    )
    value = payload["entry"][0]["changes"][0]["value"]
    second = copy.deepcopy(value["messages"][0]) | {"id": payloads.new_wamid()}
    value["messages"].append(second)
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SIMULATOR_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await loop.http.post(loop.server.url + "/webhooks/whatsapp", content=body,
                                    headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    await loop.wait_sent(3)
    # The next message shows what the second tap did: nothing (before, the list was sent again, with the
    # "please pick" prompt of a list that was never tapped).
    await loop.say({"listReply": {"id": "veggie", "title": "Veggie"}})
    sent = await loop.wait_sent(4)
    assert sent[2]["payload"]["interactive"]["type"] == "list"
    assert "How many Veggie pizzas" in _bodies(sent)[3]
    assert len(await loop.sent()) == 4


def _signed_post(loop, value_messages: list[dict[str, object]], phone: str = "15551234567"):  # type: ignore[no-untyped-def]
    """A signed messages webhook from `phone` holding these `messages[]` items, as WhatsApp posts it."""
    import hashlib
    import hmac
    import json

    from tests.conftest import SIMULATOR_APP_SECRET
    from whatsapp_builder.demo import DEMO_PHONE_NUMBER_ID

    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": DEMO_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Alice"}, "wa_id": phone}],
        "messages": [{"from": phone} | m for m in value_messages],
    }}]}]}
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SIMULATOR_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return loop.http.post(loop.server.url + "/webhooks/whatsapp", content=body,
                          headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})


async def test_a_tap_on_an_old_prompt_resumes_the_chatbot_that_sent_it_not_another(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    """Option ids repeat across chatbots (the builder names them alike): a tap on a finished survey's button
    "human" is the survey's, not the demo menu's "Talk to a human" (the default chatbot, which would hand off)."""

    await _publish_one_tap_bot(client, "Survey", "survey", "How was your visit?",
                               [("human", "Talk to someone"), ("fine", "All fine")], "Thanks for your answer!")
    await loop.say({"text": "survey"})
    prompt = (await loop.wait_sent(1))[0]
    await loop.say({"buttonReply": {"id": "fine", "title": "All fine"}})
    await loop.wait_sent(2)
    # The survey is over. Later, the other button of its message:
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to someone"}, "contextMessageId": prompt["wamid"]})
    sent = await loop.wait_sent(3)
    assert _bodies(sent)[2] == "Thanks for your answer!"
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is False
    # Now the demo runs (at its menu), and the survey's button is tapped once more: not the demo's "human" either.
    await loop.say({"text": "hi"})
    await loop.wait_sent(5)
    await loop.say({"buttonReply": {"id": "human", "title": "Talk to someone"}, "contextMessageId": prompt["wamid"]})
    sent = await loop.wait_sent(7)
    assert _bodies(sent)[5:] == ["Please tap one of the buttons below.", "What would you like to do?"]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is False


async def test_the_same_option_tapped_again_after_answering_on_is_a_new_choice_not_a_double_tap(  # type: ignore[no-untyped-def]
    loop,
) -> None:
    await loop.say({"text": "hi"})
    menu = (await loop.wait_sent(2))[1]
    order = {"buttonReply": {"id": "order", "title": "Order a pizza"}, "contextMessageId": menu["wamid"]}
    await loop.say(order)
    await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "pepperoni", "title": "Pepperoni"}})
    await loop.wait_sent(4)
    await loop.say({"text": "1"})
    await loop.wait_sent(5)  # confirmed: the flow is over
    await loop.say(order)  # seconds later, a second order from the same menu
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[5] == "Which pizza would you like?"


async def test_a_message_that_arrives_while_the_bot_answers_the_one_before_is_answered_at_once(  # type: ignore[no-untyped-def]
    loop, app_context: AppContext, monkeypatch
) -> None:
    """The first message's batch holds the conversation's turn lock while the second arrives in a webhook of its
    own: the second waited for a worker, after the grace (2 s by default), instead of going in the next batch."""
    from whatsapp_builder.flows import runner

    # The queue's workers would wait an hour: whatever is answered here, the fast path did.
    app_context.jobs.grace = 3600
    original = runner._process
    taking_first, go_on = asyncio.Event(), asyncio.Event()

    async def held(*args: Any) -> Any:
        if not taking_first.is_set():
            taking_first.set()
            await go_on.wait()
        return await original(*args)

    monkeypatch.setattr(runner, "_process", held)
    first = asyncio.create_task(loop.say({"text": "hi"}))
    await asyncio.wait_for(taking_first.wait(), 10)
    await loop.say({"text": "hours"})  # stored while the first one's batch holds the conversation
    go_on.set()
    await first
    sent = await loop.wait_sent(4)
    assert _bodies(sent) == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?",
                             "We are open every day from 11:00 to 23:00.", "What would you like to do?"]


async def test_a_burst_of_greetings_in_one_webhook_gets_one_greeting(loop) -> None:  # type: ignore[no-untyped-def]
    """A customer who writes "hi", "hello", "anyone there?" at once wrote none of them after seeing the menu: the
    menu is not asked again for each (before: welcome, then "Please tap one of the buttons below." and the menu
    twice more)."""
    import time

    now = str(int(time.time()))
    burst = [{"id": f"wamid.BURST{i}", "timestamp": now, "type": "text", "text": {"body": body}}
             for i, body in enumerate(("hi", "hello", "anyone there?"))]
    assert (await _signed_post(loop, burst)).status_code == 200
    sent = await loop.wait_sent(2)
    assert _bodies(sent) == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]
    # what the customer writes after the menu is an answer to it, as always
    await loop.say({"text": "what?"})
    sent = await loop.wait_sent(4)
    assert _bodies(sent)[2:] == ["Please tap one of the buttons below.", "What would you like to do?"]
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[4] == "Which pizza would you like?" and len(await loop.sent()) == 5


async def test_hi_and_menu_in_one_webhook_greet_once(loop) -> None:  # type: ignore[no-untyped-def]
    """"hi" and "Menu!" written at once: the restart keyword asks for the start, which the customer is about to get
    (before: the welcome and the menu twice). "menu" after the customer moved on, in the same burst, still restarts."""
    import time

    now = str(int(time.time()))
    burst = [{"id": f"wamid.HIMENU{i}", "timestamp": now, "type": "text", "text": {"body": body}}
             for i, body in enumerate(("hi", "Menu!"))]
    assert (await _signed_post(loop, burst)).status_code == 200
    sent = await loop.wait_sent(2)
    assert _bodies(sent) == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]
    moved = [{"id": f"wamid.MOVED{i}", "timestamp": now, "type": "text", "text": {"body": body}}
             for i, body in enumerate(("order", "menu"))]
    assert (await _signed_post(loop, moved)).status_code == 200
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[2:] == ["Which pizza would you like?", "Hi Alice! Welcome to Pizza Place 🍕",
                                 "What would you like to do?"]
    await loop.say({"text": "hours"})  # then the menu after the restart answers as usual
    sent = await loop.wait_sent(7)
    assert _bodies(sent)[5].startswith("We are open") and len(await loop.sent()) == 7


async def test_the_last_answer_sent_twice_at_once_ends_the_flow_once(loop) -> None:  # type: ignore[no-untyped-def]
    """"2" sent twice to the last question, taken in one go: the order is confirmed, and the second "2" (written
    before the customer saw the confirmation) does not start the bot again with its greeting."""
    import time

    await _at_the_quantity_question(loop)
    now = str(int(time.time()))
    twice = [{"id": f"wamid.TWICE{i}", "timestamp": now, "type": "text", "text": {"body": "2"}} for i in (1, 2)]
    assert (await _signed_post(loop, twice)).status_code == 200
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[4].startswith("Thanks Alice! Your order of 2 x Veggie is confirmed")
    await loop.say({"text": "hi"})  # what the second "2" did shows before this one's answer: nothing
    sent = await loop.wait_sent(7)
    assert _bodies(sent)[5:] == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]


async def test_a_handoff_keyword_taken_with_the_answer_that_ends_the_flow_still_hands_off(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    """"2" and "agent" in one webhook: the order is confirmed, and the customer who asked for a person gets one
    (the "agent" was dropped as written before the order ended, unanswered but marked read)."""
    import time

    await _at_the_quantity_question(loop)
    now = str(int(time.time()))
    both = [
        {"id": f"wamid.BOTH{i}", "timestamp": now, "type": "text", "text": {"body": body}}
        for i, body in enumerate(("2", "agent"))
    ]
    assert (await _signed_post(loop, both)).status_code == 200
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[4].startswith("Thanks Alice! Your order of 2 x Veggie is confirmed")
    assert "a member of our team will answer you" in _bodies(sent)[5]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True


async def test_after_a_timeout_a_handoff_keyword_hands_off_and_the_context_shown_is_the_handoff(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, database_url: str
) -> None:
    """The session timed out at the quantity question, then "agent": one transaction ends the old context (timeout)
    and writes the new one (handed off) at the same time; the bot panel must show the hand-off, not the timeout."""
    await _at_the_quantity_question(loop)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'UPDATE conversation_contexts SET "engineState" = "engineState"'
            " || '{\"lastActivityAt\": \"2020-01-01T00:00:00+00:00\"}'::jsonb WHERE \"isActive\""
        )
    await loop.say({"text": "agent"})
    sent = await loop.wait_sent(5)
    assert "a member of our team will answer you" in _bodies(sent)[4]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    shown = (await client.get(f"/api/conversations/{conversation['id']}/context")).json()
    assert shown["endedReason"] == "handoff" and shown["currentNodeId"] == "human", shown


async def test_a_customer_who_opens_with_order_gets_the_pizza_list_not_the_menu(loop) -> None:  # type: ignore[no-untyped-def]
    """The demo's menu takes the first message: "order" needed saying twice (a trigger keyword, then the menu)."""
    await loop.say({"text": "order"})
    sent = await loop.wait_sent(2)
    assert _bodies(sent) == ["Hi Alice! Welcome to Pizza Place 🍕", "Which pizza would you like?"]
    await loop.say({"text": "pepperoni please"})
    sent = await loop.wait_sent(3)
    assert _bodies(sent)[2] == "How many Pepperoni pizzas would you like? (1-10)"


async def test_a_tap_on_a_menu_taken_with_the_answer_that_ends_the_flow_is_still_taken(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    import time

    menu = await _at_the_quantity_question(loop)
    now = str(int(time.time()))
    human = {"type": "button_reply", "button_reply": {"id": "human", "title": "Talk to a human"}}
    both = [{"id": "wamid.END2", "timestamp": now, "type": "text", "text": {"body": "2"}},
            {"id": "wamid.HUMAN", "timestamp": now, "type": "interactive", "interactive": human,
             "context": {"from": "15550001111", "id": menu["wamid"]}}]
    assert (await _signed_post(loop, both)).status_code == 200
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[4].startswith("Thanks Alice! Your order of 2 x Veggie is confirmed")
    assert "a member of our team will answer you" in _bodies(sent)[5]
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True


async def test_the_same_button_tapped_twice_on_a_menu_the_flow_came_back_to_is_answered_once(loop) -> None:  # type: ignore[no-untyped-def]
    await loop.say({"text": "hi"})
    first_menu = (await loop.wait_sent(2))[1]
    hours = {"buttonReply": {"id": "hours", "title": "Opening hours"}, "contextMessageId": first_menu["wamid"]}
    await loop.say(hours)
    sent = await loop.wait_sent(4)  # the hours, and the menu again
    assert _bodies(sent)[2:] == ["We are open every day from 11:00 to 23:00.", "What would you like to do?"]
    # The second tap of the double tap: the same button of the same (first) menu. "hours" is an option of the menu
    # asked now, but that tap was answered already.
    await loop.say(hours)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[4] == "Which pizza would you like?"
    assert len(await loop.sent()) == 5


async def test_a_message_whatsapp_delivers_days_late_does_not_answer_the_question_asked_since(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    import time

    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    await loop.say({"listReply": {"id": "veggie", "title": "Veggie"}})
    await loop.wait_sent(4)
    # A "7" written three days ago, which WhatsApp kept retrying: it was written before the question existed.
    late = await _signed_post(loop, [{"id": "wamid.LATE7", "timestamp": str(int(time.time()) - 3 * 86400),
                                      "type": "text", "text": {"body": "7"}}])
    assert late.status_code == 200
    # A deletion (numbers shared with the WhatsApp Business app) is no answer either, and spends no retry.
    revoke = await _signed_post(loop, [{"id": "wamid.REVOKE1", "timestamp": str(int(time.time())), "type": "revoke",
                                        "revoke": {"original_message_id": "wamid.LATE7"}}])
    assert revoke.status_code == 200
    await loop.say({"text": "2"})
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[4].startswith("Thanks Alice! Your order of 2 x Veggie is confirmed")
    assert len(await loop.sent()) == 5
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    listed = (await client.get(f"/api/conversations/{conversation['id']}/messages")).json()["items"]
    stored = {m["whatsappMessageId"]: m for m in listed}
    assert stored["wamid.LATE7"]["content"] == {"body": "7"}  # kept, where it was written, for the operators
    assert stored["wamid.REVOKE1"]["type"] == "system"
    assert stored["wamid.REVOKE1"]["content"] == {"kind": "revoke", "originalMessageId": "wamid.LATE7"}


async def test_a_customer_known_only_by_their_user_id_taps_with_the_prompt_quoted(loop, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from whatsapp_builder.simulator import payloads

    await loop.say({"text": "hi"})
    menu = (await loop.wait_sent(2))[1]
    # The same customer hides their number: WhatsApp sends their BSUID alone, and still quotes the tapped menu.
    user_id = payloads.fake_bsuid(payloads.phone_digits("+15551234567"))
    tapped = await loop.say({"from": None, "userId": user_id, "buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    quoted = _quoted(database_url, tapped["messageId"])
    assert quoted == (menu["wamid"],)


async def test_the_same_button_of_an_old_menu_tapped_again_later_is_meant(loop) -> None:  # type: ignore[no-untyped-def]
    """Only a quick second tap is a double tap: the same option of an old message used again later (scrolled up
    to, minutes after) is an answer."""
    import time

    now = int(time.time())

    def tap(wamid: str, written: int, menu: str) -> dict[str, object]:
        return {"id": wamid, "timestamp": str(written), "context": {"from": "15550001111", "id": menu},
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "hours", "title": "Opening hours"}}}

    assert (await _signed_post(loop, [{"id": "wamid.HI", "timestamp": str(now - 100), "type": "text",
                                       "text": {"body": "hi"}}])).status_code == 200
    menu = str((await loop.wait_sent(2))[1]["wamid"])
    assert (await _signed_post(loop, [tap("wamid.T1", now - 90, menu)])).status_code == 200
    await loop.wait_sent(4)  # the hours and the menu again
    assert (await _signed_post(loop, [tap("wamid.T2", now, menu)])).status_code == 200  # 90 s later: meant
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[4:] == ["We are open every day from 11:00 to 23:00.", "What would you like to do?"]
    assert (await _signed_post(loop, [tap("wamid.T3", now + 1, menu)])).status_code == 200  # a second later: double
    await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    sent = await loop.wait_sent(7)
    assert _bodies(sent)[6] == "Which pizza would you like?" and len(await loop.sent()) == 7


async def test_a_customer_who_wrote_by_user_id_then_taps_from_their_number_has_the_prompt_quoted(  # type: ignore[no-untyped-def]
    loop, database_url: str
) -> None:
    from whatsapp_builder.simulator import payloads

    user_id = payloads.fake_bsuid(payloads.phone_digits("+15551234567"))
    await loop.say({"from": None, "userId": user_id, "text": "hi"})
    menu = (await loop.wait_sent(2))[1]
    tapped = await loop.say({"buttonReply": {"id": "order", "title": "Order a pizza"}})
    await loop.wait_sent(3)
    quoted = _quoted(database_url, tapped["messageId"])
    assert quoted == (menu["wamid"],)


@contextlib.asynccontextmanager
async def _slow_api_bot(client: httpx.AsyncClient) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """A published chatbot started by "slowapi" whose HTTP request node waits on an API that answers only when
    told: yields (the API was called, answer now)."""
    called, release = asyncio.Event(), asyncio.Event()

    async def slow_api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        called.set()
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    api = await asyncio.start_server(slow_api, "127.0.0.1", 0)
    port = api.sockets[0].getsockname()[1]

    def node(node_id: str, node_type: str, **data: object) -> dict[str, object]:
        return {"id": node_id, "type": node_type, "position": {"x": 0, "y": 0}, "data": data}

    graph = {
        "nodes": [node("start", "start", triggerKeywords=["slowapi"]),
                  node("call", "http_request", method="GET", url=f"http://127.0.0.1:{port}/", timeoutSeconds=30),
                  node("ok", "question", text="API answered: your order number?", variable="order",
                       validation={"type": "text"}),
                  node("err", "message", text="API failed"), node("done", "end", text="Thanks")],
        "edges": [{"id": "e1", "source": "start", "target": "call"}, {"id": "e4", "source": "ok", "target": "done"},
                  {"id": "e2", "source": "call", "target": "ok", "sourceHandle": "success"},
                  {"id": "e3", "source": "call", "target": "err", "sourceHandle": "error"}],
    }
    async with api:
        chatbot = (await client.post("/api/chatbots", json={"name": "Slow API", **graph})).json()
        published = await client.post(f"/api/chatbots/{chatbot['id']}/publish")
        assert published.status_code == 200, published.text
        try:
            yield called, release
        finally:
            release.set()


async def test_a_turn_waiting_on_a_slow_api_holds_up_no_webhook(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, app_context: AppContext, monkeypatch
) -> None:
    """A turn held the conversation's row lock while its HTTP request node waited; the same customer writing again
    ("are you there?") made the webhook's ingest wait for that lock, and with it every webhook of the process
    (other customers' messages, statuses) until the API answered, up to 30 s."""
    monkeypatch.setattr(app_context.settings, "flow_http_allow_private", True)
    async with _slow_api_bot(client) as (called, release):
        await loop.say({"from": "+15550003333", "text": "slowapi"})
        await asyncio.wait_for(called.wait(), 15)
        # It waits alone, not in a batch of the flow stage, which would hold up the other customers' turns that
        # share its transaction, and with two such turns the stage's every batch.
        assert app_context.batchers["flows"].in_flight == 0
        # While that turn waits on the API (loop.http gives up after 10 s: a stalled webhook fails here):
        await loop.say({"from": "+15550003333", "text": "are you there?"})
        await loop.say({"from": "+15550002222", "text": "hi"})
        sent = await loop.wait_sent(2)  # the other customer, answered by the demo bot meanwhile
        assert {m["to"] for m in sent} == {"15550002222"}, sent
        release.set()
        sent = await loop.wait_sent(3)
    assert "API answered: your order number?" in _bodies([m for m in sent if m["to"] == "15550003333"])


async def test_a_take_over_during_a_turn_waits_for_it_and_stops_the_bot(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, app_context: AppContext, database_url: str, monkeypatch, waiter
) -> None:
    """The turn lock is not the row lock any more: an operator's take-over must still come after a turn under way
    (else the turn, writing its context at the end, would switch the bot on again)."""
    monkeypatch.setattr(app_context.settings, "flow_http_allow_private", True)
    async with _slow_api_bot(client) as (called, release):
        await loop.say({"from": "+15550004444", "text": "slowapi"})
        await asyncio.wait_for(called.wait(), 15)
        conversation = (await client.get("/api/conversations")).json()["items"][0]["id"]
        take_over = asyncio.create_task(client.post(f"/api/conversations/{conversation}/handoff",
                                                    json={"handedOff": True}))


        def waits_for_the_turn() -> bool:
            with psycopg.connect(database_url) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                   " AND wait_event_type = 'Lock' AND wait_event = 'advisory'").fetchone()
            return row is not None and row[0] > 0

        await wait_until(lambda: take_over.done() or waits_for_the_turn())  # (done: it did not wait for the turn)
        release.set()
        assert (await take_over).status_code == 200
    await loop.wait_sent(1)  # the turn's question went out: it was under way before the take-over

    async def bot_stopped() -> bool:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute('SELECT "isActive", "engineState"->>\'endedReason\' FROM conversation_contexts'
                                ' WHERE "conversationId" = %s', (conversation,)).fetchall()
        return rows == [(False, "handoff")]

    await waiter(bot_stopped)


async def test_simulator_send_says_when_the_server_stored_nothing(loop) -> None:  # type: ignore[no-untyped-def]
    """`simulator send --user-id 'bad id'` printed the webhook's 200 and exited 0, though nothing was stored."""
    from typer.testing import CliRunner

    from whatsapp_builder.simulator.cli import simulator_app

    base = ["send", "--simulator-url", loop.simulator.url, "--text", "hi"]
    result = await asyncio.to_thread(CliRunner().invoke, simulator_app, [*base, "--user-id", "bad id"])
    assert result.exit_code == 1 and "did not store it" in result.output, result.output
    stored = await asyncio.to_thread(CliRunner().invoke, simulator_app, [*base, "--from", "+15551230001"])
    assert stored.exit_code == 0, stored.output


async def test_a_workers_turn_that_calls_an_api_runs_alone_too(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient, app_context: AppContext, monkeypatch
) -> None:
    """The queue's workers batch the flow jobs they run at once in one transaction (worker-flows): a turn waiting
    on an API there held up the others' replies as well."""
    monkeypatch.setattr(app_context.settings, "flow_http_allow_private", True)
    app_context.enable_fast_path(False)  # the flow jobs go to the queue's workers
    async with _slow_api_bot(client) as (called, release):
        await loop.say({"from": "+15550006666", "text": "slowapi"})
        await asyncio.wait_for(called.wait(), 15)
        assert app_context.batchers["worker-flows"].in_flight == 0
        await loop.say({"from": "+15550007777", "text": "hi"})
        sent = await loop.wait_sent(2)  # answered while the other turn waits
        assert {m["to"] for m in sent} == {"15550007777"}, sent
        release.set()
        sent = await loop.wait_sent(3)
    assert "API answered: your order number?" in _bodies([m for m in sent if m["to"] == "15550006666"])


async def test_the_batching_stats_say_what_each_stage_wrote_and_how_long_it_took(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    await loop.say({"text": "hi"})
    await loop.wait_sent(2)
    stats = (await client.get("/api/stats/batching")).json()
    for stage in ("webhooks", "flows", "deliveries"):
        assert stats[stage]["batches"] >= 1 and stats[stage]["items"] >= stats[stage]["batches"], stats
        assert 0 < stats[stage]["seconds"] < 60, stats


async def test_thanks_after_a_bulk_order_gets_a_short_answer_and_the_confirmation_states_the_discount(loop) -> None:  # type: ignore[no-untyped-def]
    """After the order, "thanks" got the welcome and the menu again, and "ok" after it "Please tap one of the buttons
    below."; the confirmation of 4 pizzas did not say they had the 10% off just promised."""
    await _at_the_quantity_question(loop)
    await loop.say({"text": "4"})
    sent = await loop.wait_sent(6)
    assert _bodies(sent)[4:] == [
        "Great news: orders of more than 3 pizzas get 10% off!",
        "Thanks Alice! Your order of 4 x Veggie with 10% off is confirmed and will be ready in 30 minutes.",
    ]
    await loop.say({"text": "Thank you!"})
    sent = await loop.wait_sent(7)
    assert _bodies(sent)[6] == "You're welcome! Write 'menu' any time to order again."
    await loop.say({"text": "ok 👍"})
    sent = await loop.wait_sent(8)
    assert _bodies(sent)[7] == "You're welcome! Write 'menu' any time to order again."
    await loop.say({"text": "menu"})  # and the customer orders again as told
    sent = await loop.wait_sent(10)
    assert _bodies(sent)[8:] == ["Hi Alice! Welcome to Pizza Place 🍕", "What would you like to do?"]
    assert len(await loop.sent()) == 10


async def test_asking_for_a_person_in_a_sentence_while_the_quantity_is_asked_reaches_a_person(  # type: ignore[no-untyped-def]
    loop, client: httpx.AsyncClient
) -> None:
    """Only the exact keywords handed off: "I want to talk to a person" was a wrong quantity."""
    await _at_the_quantity_question(loop)
    await loop.say({"text": "I want to talk to a person"})
    sent = await loop.wait_sent(5)
    assert _bodies(sent)[4] == "One moment Alice, a member of our team will answer you here."
    conversation = (await client.get("/api/conversations")).json()["items"][0]
    assert conversation["isHandedOff"] is True
