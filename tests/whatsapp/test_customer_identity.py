"""Who the customer is: a BSUID when the webhook carries one, the phone number otherwise (docs/whatsapp.md).

Signed webhook POSTs through the ASGI app, checked with psycopg against real PostgreSQL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.whatsapp.webhookkit import envelope, sign

PHONE = "16505551234"
ALICE, BERT = "US.1000000000000000001", "US.2000000000000000002"
DEMO_FILE = Path(__file__).resolve().parents[2] / "examples" / "demo-chatbot.json"


def message(wamid: str, body: str, *, phone: str | None = None, bsuid: str | None = None,
            name: str = "Kerry", ts: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A (contact, message) pair: with a phone number, a BSUID, or both."""
    contact: dict[str, Any] = {"profile": {"name": name}}
    item: dict[str, Any] = {"id": wamid, "timestamp": str(ts or int(time.time())), "type": "text",
                            "text": {"body": body}}
    if phone:
        contact["wa_id"] = phone
        item["from"] = phone
    if bsuid:
        contact["user_id"] = bsuid
        item["from_user_id"] = bsuid
    return contact, item


def payload(*items: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return envelope({"contacts": [c for c, _ in items], "messages": [m for _, m in items]})


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    response = await client.post("/webhooks/whatsapp", content=raw,
                                 headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)})
    assert response.status_code == 200, response.text


def customers(database_url: str) -> list[tuple[Any, ...]]:
    """(phone, bsuid, name) of every customer (not the business number's own user), by name."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            'SELECT "phoneNumber", bsuid, name FROM users WHERE name NOT LIKE %s ORDER BY name', ("Business %",)
        ).fetchall()


def conversation_of(database_url: str, wamid: str) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute('SELECT "conversationId" FROM messages WHERE "whatsappMessageId" = %s', (wamid,)).fetchone()
    assert row is not None, wamid
    return row[0]


def snapshot(database_url: str) -> list[Any]:
    """Everything the identity rules touch, to prove a redelivery changes nothing. (Not conversations."updatedAt":
    the conversation upsert touches it for any delivery, a redelivery too, as it always has.)"""
    with psycopg.connect(database_url) as conn:
        return [
            conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2").fetchall()
            for table, columns in (
                ("users", 'id::text, "phoneNumber", bsuid, name, username, "updatedAt"'),
                ("conversations", 'id::text, "customerId"::text, "lastMessage", "lastCustomerMessageAt", "isHandedOff"'),
                ("conversation_participants", '"conversationId"::text, "userId"::text'),
                ("messages", 'id::text, "conversationId"::text, "senderId"::text'),
                ("procrastinate_jobs", "id, lock, args::text"),
            )
        ]


async def test_a_recycled_number_is_a_new_customer_and_the_old_one_keeps_its_history(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.A1", "hi, Alice here", phone=PHONE, bsuid=ALICE, name="Alice",
                                           ts=now - 60)))
    alice_conversation = conversation_of(database_url, "wamid.A1")
    # The number now belongs to someone else: WhatsApp gives them another BSUID.
    await post(configured, payload(message("wamid.B1", "hello, Bert", phone=PHONE, bsuid=BERT, name="Bert", ts=now)))

    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]
    bert_conversation = conversation_of(database_url, "wamid.B1")
    assert bert_conversation != alice_conversation
    with psycopg.connect(database_url) as conn:
        owners = dict(conn.execute(
            'SELECT c.id, u.bsuid FROM conversations c JOIN users u ON u.id = c."customerId"').fetchall())
        senders = dict(conn.execute(
            'SELECT m."whatsappMessageId", u.bsuid FROM messages m JOIN users u ON u.id = m."senderId"').fetchall())
        jobs = {r[0] for r in conn.execute("SELECT lock FROM procrastinate_jobs").fetchall()}
    assert owners == {alice_conversation: ALICE, bert_conversation: BERT}
    assert senders == {"wamid.A1": ALICE, "wamid.B1": BERT}
    # Bert's message is answered in his own conversation: Alice's bot state is not his.
    assert jobs == {f"flow:{alice_conversation}", f"flow:{bert_conversation}"}

    # A message with the number only now reaches its current owner.
    await post(configured, payload(message("wamid.P1", "phone only", phone=PHONE, name="Bert")))
    assert conversation_of(database_url, "wamid.P1") == bert_conversation


async def test_a_redelivery_after_a_recycled_number_changes_nothing(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    alice = payload(message("wamid.A1", "Alice", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 60))
    bert = payload(message("wamid.B1", "Bert", phone=PHONE, bsuid=BERT, name="Bert", ts=now))
    await post(configured, alice)
    await post(configured, bert)
    before = snapshot(database_url)
    # Meta delivers both again (in any order): Alice's old message must not take the number back.
    await post(configured, alice)
    await post(configured, bert)
    await post(configured, alice)
    assert snapshot(database_url) == before
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]


async def test_statuses_for_the_previous_owner_still_apply(configured: httpx.AsyncClient, database_url: str) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.A1", "Alice", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 60)))
    alice_conversation = conversation_of(database_url, "wamid.A1")
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", content, status, "timestamp", "whatsappMessageId",'
            " direction) SELECT %s, p.\"userId\", '{\"body\": \"our answer\"}', 'sent', now(), 'wamid.TO_ALICE',"
            " 'outbound' FROM conversation_participants p JOIN users u ON u.id = p.\"userId\""
            " WHERE p.\"conversationId\" = %s AND u.bsuid IS DISTINCT FROM %s",
            (alice_conversation, alice_conversation, ALICE),
        )
    await post(configured, payload(message("wamid.B1", "Bert", phone=PHONE, bsuid=BERT, name="Bert", ts=now)))
    # Meta's status for our earlier answer to Alice arrives after the number changed hands.
    await post(configured, envelope({"statuses": [{
        "id": "wamid.TO_ALICE", "status": "delivered", "timestamp": str(now), "recipient_id": PHONE,
        "recipient_user_id": ALICE}]}))
    with psycopg.connect(database_url) as conn:
        row = conn.execute('SELECT status::text, "conversationId" FROM messages'
                           " WHERE \"whatsappMessageId\" = 'wamid.TO_ALICE'").fetchone()
    assert row == ("delivered", alice_conversation)
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]


async def _never_linked(configured: httpx.AsyncClient, database_url: str) -> list[dict[str, Any]]:
    """A customer from before BSUIDs (phone only), then the same person by BSUID only, then both, then BSUID
    only again: the four deliveries of the scenario."""
    now = int(time.time())
    deliveries = [
        payload(message("wamid.L1", "from before 2026", phone=PHONE, name="Kerry", ts=now - 300)),
        payload(message("wamid.L2", "bsuid only", bsuid=ALICE, name="Kerry F.", ts=now - 200)),
        payload(message("wamid.L3", "both", phone=PHONE, bsuid=ALICE, name="Kerry F.", ts=now - 100)),
        payload(message("wamid.L4", "bsuid only again", bsuid=ALICE, name="Kerry F.", ts=now)),
    ]
    for body in deliveries[:2]:
        await post(configured, body)
    old, new = conversation_of(database_url, "wamid.L1"), conversation_of(database_url, "wamid.L2")
    assert old != new  # nothing links them yet
    with psycopg.connect(database_url) as conn:
        # The bot had a conversation with each of them: the phone one long ago, the BSUID one just now.
        bot = conn.execute("INSERT INTO chatbots (name, \"isActive\") VALUES ('bot', false) RETURNING id").fetchone()
        assert bot is not None
        for conversation, node, age in ((old, "old-node", "1 day"), (new, "new-node", "1 minute")):
            conn.execute(
                'INSERT INTO conversation_contexts ("conversationId", "chatbotId", "currentNodeId", "createdAt")'
                " VALUES (%s, %s, %s, now() - %s::interval)",
                (conversation, bot[0], node, age),
            )
    for body in deliveries[2:]:
        await post(configured, body)
    return deliveries


async def test_a_phone_customer_and_a_bsuid_customer_are_linked_into_one(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    await _never_linked(configured, database_url)
    # The phone customer stays (same user, same conversation) and learns the BSUID; the BSUID-only user is gone.
    assert customers(database_url) == [("+" + PHONE, ALICE, "Kerry F.")]
    conversation = conversation_of(database_url, "wamid.L1")
    assert {conversation_of(database_url, w) for w in ("wamid.L2", "wamid.L3", "wamid.L4")} == {conversation}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (1,)
        assert conn.execute('SELECT "lastMessage" FROM conversations').fetchone() == ("bsuid only again",)
        senders = conn.execute('SELECT DISTINCT u.bsuid FROM messages m JOIN users u ON u.id = m."senderId"').fetchall()
        participants = conn.execute('SELECT count(*) FROM conversation_participants WHERE "conversationId" = %s',
                                    (conversation,)).fetchone()
        contexts = conn.execute('SELECT "currentNodeId", "isActive" FROM conversation_contexts'
                                ' WHERE "conversationId" = %s ORDER BY "createdAt"', (conversation,)).fetchall()
        jobs = {r[0]: r[1] for r in conn.execute(
            "SELECT lock, args->>'conversation_id' FROM procrastinate_jobs").fetchall()}
    assert senders == [(ALICE,)] and participants == (2,)
    # The bot goes on where the customer was last; the older state is closed, not resumed later.
    assert contexts == [("old-node", False), ("new-node", True)]
    # The flow job still waiting for the merged conversation's messages now answers in the remaining one.
    assert jobs == {f"flow:{conversation}": str(conversation)}


async def test_linking_survives_redelivery(configured: httpx.AsyncClient, database_url: str) -> None:
    deliveries = await _never_linked(configured, database_url)
    before = snapshot(database_url)
    for body in deliveries + deliveries[::-1]:
        await post(configured, body)
    assert snapshot(database_url) == before


async def test_one_batch_with_both_identities_links_them(configured: httpx.AsyncClient, database_url: str) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.O1", "old", phone=PHONE, name="Kerry", ts=now - 60)))
    # Meta batches under load: the BSUID-only message and the one with both arrive in one POST.
    await post(configured, payload(message("wamid.O2", "a", bsuid=ALICE, name="Kerry", ts=now - 1),
                                   message("wamid.O3", "b", phone=PHONE, bsuid=ALICE, name="Kerry", ts=now)))
    assert customers(database_url) == [("+" + PHONE, ALICE, "Kerry")]
    assert len({conversation_of(database_url, w) for w in ("wamid.O1", "wamid.O2", "wamid.O3")}) == 1


async def test_a_number_claimed_by_two_bsuids_in_one_batch_goes_to_the_last(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.T1", "Alice", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 1),
                                   message("wamid.T2", "Bert", phone=PHONE, bsuid=BERT, name="Bert", ts=now)))
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]
    assert conversation_of(database_url, "wamid.T1") != conversation_of(database_url, "wamid.T2")


async def test_a_number_claimed_by_two_bsuids_in_one_batch_goes_to_the_newest_whatever_the_order(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    # Meta does not promise order, not even inside one POST: the newer message comes first here.
    await post(configured, payload(message("wamid.T2", "Bert", phone=PHONE, bsuid=BERT, name="Bert", ts=now),
                                   message("wamid.T1", "Alice", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 60)))
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]


async def test_a_late_message_from_a_numbers_previous_owner_does_not_take_it_back(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.A1", "Alice", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 600)))
    alice_conversation = conversation_of(database_url, "wamid.A1")
    await post(configured, payload(message("wamid.B1", "Bert", phone=PHONE, bsuid=BERT, name="Bert", ts=now - 60)))
    bert_conversation = conversation_of(database_url, "wamid.B1")
    # Alice wrote this before the number changed hands; Meta delivers it only now (a new id, not a redelivery).
    await post(configured, payload(message("wamid.A2", "late", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 300)))

    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]
    assert conversation_of(database_url, "wamid.A2") == alice_conversation
    # The number is still Bert's: a message with the number only is his, and keeps his name.
    await post(configured, payload(message("wamid.P1", "phone only", phone=PHONE, name="Bert", ts=now)))
    assert conversation_of(database_url, "wamid.P1") == bert_conversation
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]


async def test_a_late_message_does_not_bring_back_an_older_name(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.N1", "a", bsuid=ALICE, name="New Name", ts=now)))
    await post(configured, payload(message("wamid.N0", "b", bsuid=ALICE, name="Old Name", ts=now - 3600)))
    await post(configured, payload(message("wamid.M1", "a", phone=PHONE, name="Newer", ts=now)))
    await post(configured, payload(message("wamid.M0", "b", phone=PHONE, name="Older", ts=now - 3600)))
    assert customers(database_url) == [(None, ALICE, "New Name"), ("+" + PHONE, None, "Newer")]
    # A newer message still renames.
    await post(configured, payload(message("wamid.N2", "c", bsuid=ALICE, name="Newest", ts=now + 1)))
    assert customers(database_url) == [("+" + PHONE, None, "Newer"), (None, ALICE, "Newest")]


async def test_a_workers_flow_job_for_a_conversation_merged_away_answers_in_the_remaining_one(
    configured: httpx.AsyncClient, database_url: str, app_context: Any
) -> None:
    """A queue worker had taken the BSUID conversation's flow job (so the merge could not move it) and ran it
    after the merge: it finds the messages where they are now instead of doing nothing."""
    from whatsapp_builder.flows.runner import process_inbound_many

    demo = json.loads(DEMO_FILE.read_text("utf-8"))
    created = await configured.post("/api/chatbots/import?activate=true", json=demo)
    assert created.status_code == 201, created.text
    now = int(time.time())
    await post(configured, payload(message("wamid.M1", "before", phone=PHONE, name="Kerry", ts=now - 60)))
    await post(configured, payload(message("wamid.M2", "hi", bsuid=ALICE, name="Kerry", ts=now - 30)))
    merged_away = conversation_of(database_url, "wamid.M2")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM messages WHERE \"whatsappMessageId\" = 'wamid.M2'").fetchone()
        assert row is not None
        conn.execute("DELETE FROM procrastinate_jobs")  # taken by that worker before the merge
    await post(configured, payload(message("wamid.M3", "both", phone=PHONE, bsuid=ALICE, name="Kerry", ts=now)))
    remaining = conversation_of(database_url, "wamid.M2")
    assert remaining != merged_away
    assert await process_inbound_many(app_context, [(merged_away, [row[0]])]) == [remaining]
    with psycopg.connect(database_url) as conn:
        replies = conn.execute("SELECT count(*) FROM messages WHERE direction = 'outbound' AND \"conversationId\" = %s",
                               (remaining,)).fetchone()
    assert replies is not None and replies[0] >= 1


def system_notice(wamid: str, kind: str, *, old_phone: str | None, previous: str | None, new_phone: str | None,
                  new_bsuid: str | None) -> dict[str, Any]:
    """WhatsApp's system message for a changed number or BSUID (no contacts array, as Meta documents it)."""
    system: dict[str, Any] = {"type": kind, "body": "User Kerry changed their number"}
    if new_phone:
        system["wa_id"] = new_phone
    if new_bsuid:
        system["user_id"] = new_bsuid
    if previous:
        system["previous_user_id"] = previous
    item: dict[str, Any] = {"id": wamid, "timestamp": str(int(time.time())), "type": "system", "system": system}
    if old_phone:
        item["from"] = old_phone
    return envelope({"messages": [item]})


async def test_a_customer_who_changes_number_stays_one_customer_in_one_conversation(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    await post(configured, payload(message("wamid.CN1", "hi", phone=PHONE, bsuid=ALICE)))
    first = conversation_of(database_url, "wamid.CN1")
    new_phone, new_bsuid = "16505559999", "US.3000000000000000003"
    notice = system_notice("wamid.CN2", "user_changed_number", old_phone=PHONE, previous=ALICE,
                           new_phone=new_phone, new_bsuid=new_bsuid)
    await post(configured, notice)
    assert conversation_of(database_url, "wamid.CN2") == first  # the notice is shown where the customer was
    assert customers(database_url) == [("+" + new_phone, new_bsuid, "Kerry")]
    # The customer's next message, from the new number and BSUID, lands in the same conversation ...
    await post(configured, payload(message("wamid.CN3", "order", phone=new_phone, bsuid=new_bsuid)))
    assert conversation_of(database_url, "wamid.CN3") == first
    assert len(customers(database_url)) == 1
    # ... and the old number, which the customer left, is no one's now (it may be given to someone else).
    with psycopg.connect(database_url) as conn:
        assert conn.execute('SELECT count(*) FROM users WHERE "phoneNumber" = %s', ("+" + PHONE,)).fetchone() == (0,)
    # A redelivery of the notice a week later changes nothing, even if the number moved on since.
    await post(configured, payload(message("wamid.CN4", "hi", phone=PHONE, bsuid=BERT, name="Bert")))
    await post(configured, notice)
    assert sorted(c[:2] for c in customers(database_url)) == [("+" + PHONE, BERT), ("+" + new_phone, new_bsuid)]


async def test_a_number_change_in_the_format_before_v12_is_followed(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    # Webhooks before v12 name the new number `new_wa_id`, and carry no BSUIDs.
    await post(configured, payload(message("wamid.OV1", "hi", phone=PHONE, bsuid=None)))
    first = conversation_of(database_url, "wamid.OV1")
    notice = system_notice("wamid.OV2", "user_changed_number", old_phone=PHONE, previous=None, new_phone=None,
                           new_bsuid=None)
    notice["entry"][0]["changes"][0]["value"]["messages"][0]["system"]["new_wa_id"] = "16505558888"
    await post(configured, notice)
    assert customers(database_url) == [("+16505558888", None, "Kerry")]
    await post(configured, payload(message("wamid.OV3", "order", phone="16505558888", bsuid=None)))
    assert conversation_of(database_url, "wamid.OV3") == first


async def test_a_changed_bsuid_alone_is_followed(configured: httpx.AsyncClient, database_url: str) -> None:
    await post(configured, payload(message("wamid.CU1", "hi", bsuid=ALICE)))
    first = conversation_of(database_url, "wamid.CU1")
    new_bsuid = "US.4000000000000000004"
    await post(configured, system_notice("wamid.CU2", "user_changed_user_id", old_phone=None, previous=ALICE,
                                         new_phone=None, new_bsuid=new_bsuid))
    assert customers(database_url) == [(None, new_bsuid, "Kerry")]
    await post(configured, payload(message("wamid.CU3", "more", bsuid=new_bsuid)))
    assert conversation_of(database_url, "wamid.CU3") == first


async def test_a_customer_seen_under_the_new_identity_before_the_notice_is_merged(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """The customer wrote from their new number (and new BSUID) before WhatsApp's notice arrived: two users, two
    conversations, until the notice says they are one. Then the new one is merged into the old one."""
    new_phone, new_bsuid = "16505550000", "US.5000000000000000005"
    await post(configured, payload(message("wamid.CT1", "hi", phone=PHONE, bsuid=ALICE, ts=int(time.time()) - 60)))
    first = conversation_of(database_url, "wamid.CT1")
    await post(configured, payload(message("wamid.CT2", "it's me", phone=new_phone, bsuid=new_bsuid)))
    assert conversation_of(database_url, "wamid.CT2") != first
    await post(configured, system_notice("wamid.CT3", "user_changed_number", old_phone=PHONE, previous=ALICE,
                                         new_phone=new_phone, new_bsuid=new_bsuid))
    assert customers(database_url) == [("+" + new_phone, new_bsuid, "Kerry")]
    assert {conversation_of(database_url, w) for w in ("wamid.CT1", "wamid.CT2", "wamid.CT3")} == {first}
    listed = (await configured.get("/api/conversations")).json()["items"]
    assert [c["id"] for c in listed] == [str(first)]


async def test_a_new_number_that_was_someone_elses_is_taken_from_them(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """WhatsApp recycles numbers: the number's earlier owner (another BSUID) gives it up, as on a message."""
    await post(configured, payload(message("wamid.CR1", "hi", phone=PHONE, bsuid=ALICE)))
    await post(configured, payload(message("wamid.CR2", "hi", phone="16505550000", bsuid=BERT, name="Bert")))
    new_bsuid = "US.6000000000000000006"
    await post(configured, system_notice("wamid.CR3", "user_changed_number", old_phone=PHONE, previous=ALICE,
                                         new_phone="16505550000", new_bsuid=new_bsuid))
    assert {c[:2] for c in customers(database_url)} == {("+16505550000", new_bsuid), (None, BERT)}


def _notice_at(notice: dict[str, Any], ts: int) -> dict[str, Any]:
    notice["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(ts)
    return notice


async def test_late_messages_from_the_identity_a_customer_left_are_still_theirs(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """Meta delivers late and out of order: after the notice, a message written before the change (or a redelivery
    of an earlier one, or of the notice) still comes from the old number and BSUID. It is the customer's who moved,
    in their conversation: not a new customer with a conversation of its own (the bot would greet a number they
    left)."""
    now = int(time.time())
    await post(configured, payload(message("wamid.LT1", "hi", phone=PHONE, bsuid=ALICE, ts=now - 60)))
    first = conversation_of(database_url, "wamid.LT1")
    new_phone, new_bsuid = "16505558888", "US.7000000000000000007"
    notice = _notice_at(system_notice("wamid.LT2", "user_changed_number", old_phone=PHONE, previous=ALICE,
                                      new_phone=new_phone, new_bsuid=new_bsuid), now)
    await post(configured, notice)
    mover = [("+" + new_phone, new_bsuid, "Kerry")]
    assert customers(database_url) == mover
    before = snapshot(database_url)
    await post(configured, notice)  # the notice again
    await post(configured, payload(message("wamid.LT1", "hi", phone=PHONE, bsuid=ALICE, ts=now - 60)))  # and LT1
    assert snapshot(database_url) == before
    # Written before the change, delivered after the notice: the customer's, in their conversation.
    await post(configured, payload(message("wamid.LT3", "one more thing", phone=PHONE, bsuid=ALICE, ts=now - 5)))
    assert customers(database_url) == mover
    assert conversation_of(database_url, "wamid.LT3") == first
    listed = (await configured.get("/api/conversations")).json()["items"]
    assert [c["id"] for c in listed] == [str(first)]
    # The old number's next owner (another BSUID) is someone else.
    await post(configured, payload(message("wamid.LT4", "hello", phone=PHONE, bsuid=BERT, name="Bert", ts=now + 1)))
    assert customers(database_url) == [("+" + PHONE, BERT, "Bert"), *mover]
    assert conversation_of(database_url, "wamid.LT4") != first


async def test_a_number_left_by_a_customer_known_by_phone_only_is_theirs_until_the_change(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """Without BSUIDs only the time tells: a message from the old number written before the notice is the mover's;
    one written after it is from whoever has the number now."""
    now = int(time.time())
    await post(configured, payload(message("wamid.LP1", "hi", phone=PHONE, ts=now - 60)))
    first = conversation_of(database_url, "wamid.LP1")
    new_phone = "16505557777"
    notice = _notice_at(system_notice("wamid.LP2", "user_changed_number", old_phone=PHONE, previous=None,
                                      new_phone=new_phone, new_bsuid=None), now - 10)
    await post(configured, notice)
    assert customers(database_url) == [("+" + new_phone, None, "Kerry")]
    before = snapshot(database_url)
    await post(configured, notice)
    assert snapshot(database_url) == before
    await post(configured, payload(message("wamid.LP3", "late", phone=PHONE, ts=now - 20)))
    assert conversation_of(database_url, "wamid.LP3") == first
    assert customers(database_url) == [("+" + new_phone, None, "Kerry")]
    await post(configured, payload(message("wamid.LP4", "new owner", phone=PHONE, name="Nina", ts=now)))
    assert conversation_of(database_url, "wamid.LP4") != first
    assert customers(database_url) == [("+" + new_phone, None, "Kerry"), ("+" + PHONE, None, "Nina")]


async def test_a_message_from_a_bsuid_left_with_user_changed_user_id_is_the_customers(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.LU1", "hi", bsuid=ALICE, ts=now - 60)))
    first = conversation_of(database_url, "wamid.LU1")
    new_bsuid = "US.8000000000000000008"
    await post(configured, _notice_at(system_notice("wamid.LU2", "user_changed_user_id", old_phone=None,
                                                    previous=ALICE, new_phone=None, new_bsuid=new_bsuid), now))
    await post(configured, payload(message("wamid.LU3", "late", bsuid=ALICE, ts=now - 30)))
    assert conversation_of(database_url, "wamid.LU3") == first
    assert customers(database_url) == [(None, new_bsuid, "Kerry")]


async def test_a_status_naming_both_identities_links_a_customer_the_business_wrote_to_first(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """The business writes first, by phone number; the customer answers as a username user (BSUID, no number).
    The statuses of the business's message name both (`recipient_id`, `recipient_user_id`): the answer joins the
    same customer and conversation instead of starting a second one."""
    now = int(time.time())
    opened = await configured.post("/api/conversations", json={"customerPhoneNumber": "+" + PHONE, "customerName": "Wanda"})
    assert opened.status_code in (200, 201), opened.text
    conversation = opened.json()["id"]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", type, content, status, "timestamp",'
            ' "whatsappMessageId", direction) SELECT %s, p."userId", \'template\','
            """ '{"name": "order_update", "language": "en_US"}', 'sent', now(), 'wamid.FIRST', 'outbound'"""
            ' FROM conversation_participants p JOIN users u ON u.id = p."userId"'
            ' WHERE p."conversationId" = %s AND u."phoneNumber" IS DISTINCT FROM %s',
            (conversation, conversation, "+" + PHONE),
        )
    # a status of another recipient's number must not link anyone
    await post(configured, envelope({"statuses": [{
        "id": "wamid.FIRST", "status": "sent", "timestamp": str(now), "recipient_id": "16505550000",
        "recipient_user_id": BERT}]}))
    assert customers(database_url) == [("+" + PHONE, None, "Wanda")]
    await post(configured, envelope({"statuses": [{
        "id": "wamid.FIRST", "status": "delivered", "timestamp": str(now), "recipient_id": PHONE,
        "recipient_user_id": ALICE}]}))
    assert customers(database_url) == [("+" + PHONE, ALICE, "Wanda")]
    await post(configured, payload(message("wamid.ANSWER", "yes please", bsuid=ALICE, name="Wanda", ts=now + 1)))
    assert str(conversation_of(database_url, "wamid.ANSWER")) == conversation
    assert customers(database_url) == [("+" + PHONE, ALICE, "Wanda")]


async def test_a_status_that_comes_before_its_message_is_stored_still_lets_a_later_one_link_the_customer(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """Statuses come in any order, also before the send that they are about is recorded. The first one then has
    nothing to link (no message names the customer yet); the server must not take that as "nothing to learn from
    this BSUID" (it remembers BSUIDs users already have, to skip looking again): the next status links them."""
    now = int(time.time())
    opened = await configured.post("/api/conversations", json={"customerPhoneNumber": "+" + PHONE, "customerName": "Wanda"})
    assert opened.status_code in (200, 201), opened.text
    conversation = opened.json()["id"]
    sent = {"id": "wamid.EARLY", "timestamp": str(now), "recipient_id": PHONE, "recipient_user_id": ALICE}
    await post(configured, envelope({"statuses": [{**sent, "status": "sent"}]}))
    assert customers(database_url) == [("+" + PHONE, None, "Wanda")]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", type, content, status, "timestamp",'
            ' "whatsappMessageId", direction) SELECT %s, p."userId", \'text\','
            """ '{"body": "Your order is ready"}', 'sent', now(), 'wamid.EARLY', 'outbound'"""
            ' FROM conversation_participants p JOIN users u ON u.id = p."userId"'
            ' WHERE p."conversationId" = %s AND u."phoneNumber" IS DISTINCT FROM %s',
            (conversation, conversation, "+" + PHONE),
        )
    for status in ("delivered", "read"):  # the second finds the BSUID already a user's: nothing changes
        await post(configured, envelope({"statuses": [{**sent, "status": status}]}))
        assert customers(database_url) == [("+" + PHONE, ALICE, "Wanda")]


async def test_a_late_message_from_the_previous_holder_of_a_customers_new_number_does_not_take_it_back(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """Alice moves to Bert's old number (the notice). A message Bert wrote from it before that, delivered late, is
    Bert's, in Bert's conversation: the number stays Alice's, so her replies do not go to Bert."""
    now, other = int(time.time()), "16505550000"
    await post(configured, payload(message("wamid.PH1", "Alice", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 600)))
    alice_conversation = conversation_of(database_url, "wamid.PH1")
    await post(configured, payload(message("wamid.PH2", "Bert", phone=other, bsuid=BERT, name="Bert", ts=now - 900)))
    bert_conversation = conversation_of(database_url, "wamid.PH2")
    new_bsuid = "US.8000000000000000008"
    await post(configured, _notice_at(system_notice("wamid.PH3", "user_changed_number", old_phone=PHONE,
                                                    previous=ALICE, new_phone=other, new_bsuid=new_bsuid), now - 60))
    assert customers(database_url) == [("+" + other, new_bsuid, "Alice"), (None, BERT, "Bert")]

    await post(configured, payload(message("wamid.PH4", "late", phone=other, bsuid=BERT, name="Bert", ts=now - 300)))
    assert conversation_of(database_url, "wamid.PH4") == bert_conversation
    assert customers(database_url) == [("+" + other, new_bsuid, "Alice"), (None, BERT, "Bert")]
    await post(configured, payload(message("wamid.PH5", "phone only", phone=other, name="Alice", ts=now)))
    assert conversation_of(database_url, "wamid.PH5") == alice_conversation


async def test_a_late_message_does_not_give_a_customer_known_by_phone_only_someone_elses_bsuid(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    """Bert is known by his number only. A message Alice wrote from that number before it was his, delivered late
    with her BSUID, is hers: Bert does not take her BSUID (his replies would go to her)."""
    now = int(time.time())
    await post(configured, payload(message("wamid.PB1", "Bert", phone=PHONE, name="Bert", ts=now - 60)))
    bert_conversation = conversation_of(database_url, "wamid.PB1")
    await post(configured, payload(message("wamid.PB2", "late", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 600)))
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, None, "Bert")]
    alice_conversation = conversation_of(database_url, "wamid.PB2")
    assert alice_conversation != bert_conversation
    # Another of hers, as late: her BSUID and Bert's number on two users is no reason to merge them.
    await post(configured, payload(message("wamid.PB4", "later", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 590)))
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, None, "Bert")]
    assert conversation_of(database_url, "wamid.PB2") == conversation_of(database_url, "wamid.PB4") == alice_conversation
    # Bert's own BSUID, on a newer message, is still learned.
    await post(configured, payload(message("wamid.PB3", "me", phone=PHONE, bsuid=BERT, name="Bert", ts=now)))
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]
    assert conversation_of(database_url, "wamid.PB3") == bert_conversation


async def test_a_number_in_one_batch_is_the_newest_message_carrying_it_not_a_later_one_without_it(
    configured: httpx.AsyncClient, database_url: str
) -> None:
    now = int(time.time())
    await post(configured, payload(message("wamid.PO1", "a", phone=PHONE, bsuid=ALICE, name="Alice", ts=now - 20),
                                   message("wamid.PO2", "b", phone=PHONE, bsuid=BERT, name="Bert", ts=now - 10),
                                   # Alice again, as a username user without the number: it is Bert's now.
                                   message("wamid.PO3", "c", bsuid=ALICE, name="Alice", ts=now)))
    assert customers(database_url) == [(None, ALICE, "Alice"), ("+" + PHONE, BERT, "Bert")]


def test_customers_without_a_bsuid_are_found_by_key_not_through_the_bsuid_indexs_dead_nulls(database_url: str) -> None:
    """Every customer known by phone number starts with a NULL entry in uq_users_bsuid, dead once it learns its
    BSUID. Without a VACUUM (autovacuum off, as on the machines we test on), a plan that finds "customers without
    a BSUID yet" through that index walks all of them on every status webhook and every send: 5 ms a statement at
    30,000 customers in the bench, and growing. The statements that link BSUIDs must find their customers by id
    or phone number whatever the statistics say."""
    from whatsapp_builder.whatsapp import delivery, ingest

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO users ("phoneNumber", name) SELECT \'+1555\' || lpad(i::text, 7, \'0\'), \'c\''
            " FROM generate_series(1, 20000) AS i"
        )
        conn.execute(
            'INSERT INTO conversations ("whatsappPhoneNumberId", "customerId") SELECT \'100000000000001\', id FROM users'
        )
        conn.execute(
            'INSERT INTO messages ("conversationId", "senderId", type, content, status, direction,'
            ' "whatsappMessageId", "timestamp") SELECT c.id, c."customerId", \'text\', \'{"body": "hi"}\', \'sent\','
            ' \'outbound\', \'wamid.\' || u."phoneNumber", now() FROM conversations c JOIN users u ON u.id = c."customerId"'
        )
        conn.execute("UPDATE users SET bsuid = 'US.' || substr(\"phoneNumber\", 2) WHERE \"phoneNumber\" < '+15550019990'")
        conn.execute("ANALYZE users, conversations, messages")
        conversation = conn.execute("SELECT id::text FROM conversations LIMIT 1").fetchone()
        assert conversation is not None
        statuses = json.dumps([["wamid.+15550019995", "US.5550019995", "15550019995"]])
        learned = json.dumps([[conversation[0], "US.5550019995"]])
        arrays: tuple[Any, ...] = (["+15550019995"], ["US.5550019995"], ["2026-01-01T00:00:00Z"])
        plans = {
            name: "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, params).fetchall())
            for name, sql, params in (
                ("learn from statuses", delivery._LEARN_FROM_STATUSES, (statuses, ["US.5550019995"])),
                ("learn from sends", delivery._LEARN_BSUID, (learned,)),
                ("learn from messages", ingest._LEARN_BSUIDS, arrays),
            )
        }
    for name, plan in plans.items():
        assert "(bsuid IS NULL)" not in plan, f"{name}:\n{plan}"
        assert "Seq Scan on users" not in plan, f"{name}:\n{plan}"
