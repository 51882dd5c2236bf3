"""Store one webhook delivery in one transaction: contacts, conversations, messages, statuses, flow jobs.

Set-based statements (unnest arrays), so a batch of a thousand messages costs the same handful of statements
as a batch of one. Idempotent: a redelivered message stores nothing and enqueues no flow job; a redelivered
or late status never moves a message backwards.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from whatsapp_builder.core.ids import Uuid7Generator
from whatsapp_builder.core.phone import customer_phone
from whatsapp_builder.core.rows import json_rows
from whatsapp_builder.core.schemas import api_time
from whatsapp_builder.logging import get_logger, warn_first
from whatsapp_builder.whatsapp.parser import CALL, InboundMessage, StatusUpdate, WebhookBatch, valid_bsuid
from whatsapp_builder.whatsapp.statuses import ReducedStatus, lock_wamids, reduce_statuses

log = get_logger(__name__)

NAME_LIMIT = 100
WAMID_LIMIT = 255
BSUID_LIMIT = 160


# PostgreSQL text and JSONB hold neither U+0000 nor half of a UTF-16 surrogate pair; JSON can carry both
# (`\u0000`, a lone `\ud83d`). A valid pair reaches Python already joined into one character.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable_text(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


# A customer opening a chat with the business for the first time (`request_welcome`): stored as a system message,
# but unlike WhatsApp's other notices it opens the 24-hour window (for a welcome reply) and starts the chatbot.
WELCOME_REQUEST = "request_welcome"


# WhatsApp's system notices that are the customer's own doing: they open the 24-hour window as a message does
# (whatsapp-cloud-api.md: "a customer's message (or call)").
_THE_CUSTOMERS = frozenset({WELCOME_REQUEST, CALL})


def is_notice(message_type: str, content: Any) -> bool:
    """WhatsApp's notices about a customer (e.g. "user changed number"), not messages from them: stored and
    shown, but they neither open the 24-hour window nor run the chatbot (whatsapp-cloud-api.md: a customer's
    message does)."""
    return message_type == "system" and not (isinstance(content, dict) and content.get("kind") in _THE_CUSTOMERS)


def is_for_the_bot(message_type: str, content: Any) -> bool:
    """Not notices, nor reactions: a reaction (or taking one back) to an earlier message is the customer's, so it
    opens the window, but a bot waiting for a reply must not take a thumbs-up as one (nor spend a retry on it).
    Nor a call: it opens the window too, but it is no answer, and nothing the bot could answer."""
    if isinstance(content, dict) and message_type == "unsupported" and content.get("originalType") in _NOT_ANSWERS:
        return False  # a deletion or an edit WhatsApp sent malformed: still no answer to a question
    if message_type == "system" and isinstance(content, dict) and content.get("kind") == CALL:
        return False
    return message_type != "reaction" and not is_notice(message_type, content)


_NOT_ANSWERS = frozenset({"revoke", "edit"})


MAX_DEPTH = 64  # WhatsApp's payloads nest a few levels; deeper values are dropped, not a reason to fail


def storable(value: Any, depth: int = 0) -> Any:
    """`value` with what PostgreSQL cannot store mended everywhere, keys included: U+0000 dropped, a lone
    surrogate replaced by U+FFFD, NaN and infinities (which JSON cannot carry) and values nested deeper than
    MAX_DEPTH replaced by null."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(_storable_text, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {storable(k): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, depth + 1) for v in value]
    return value


def storable_id(value: str) -> str:
    """An id with what PostgreSQL cannot store replaced by U+FFFD, never dropped: `storable` drops U+0000, which
    would turn "<the connected number's id>\\u0000" into the connected number's id, and a message sent to no number
    of this config would be taken as one to it (answered by its chatbot). Mended this way, it stays another id."""
    return _UNSTORABLE.sub("\ufffd", value)


def _storable(message: InboundMessage) -> InboundMessage | None:
    """The message with values that fit the columns, or None when its ids cannot be stored at all."""
    if len(message.wa_message_id) > WAMID_LIMIT or len(message.phone_number_id) > WAMID_LIMIT:
        return None
    user_id = message.from_user_id if message.from_user_id and len(message.from_user_id) <= BSUID_LIMIT else None
    return replace(
        message,
        wa_message_id=storable(message.wa_message_id),
        phone_number_id=storable_id(message.phone_number_id),
        from_user_id=storable(user_id),
        from_phone=storable(message.from_phone),
        display_phone_number=storable(message.display_phone_number),
        contact_name=storable(message.contact_name)[:NAME_LIMIT] if message.contact_name else None,
        contact_username=storable(message.contact_username)[:NAME_LIMIT] if message.contact_username else None,
        content=storable(message.content),
        raw=storable(message.raw),
    )


@dataclass
class IngestResult:
    """What the transaction changed, for the flow jobs and the real-time events sent after commit."""

    new_messages: list[dict[str, Any]] = field(default_factory=list)
    new_by_conversation: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    # The new messages the chatbot answers: all but WhatsApp's own notices and reactions (is_for_the_bot).
    flow_inputs: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    # Conversations merged into another (a customer's two identities linked): {gone: where it went}.
    merged_conversations: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    # Conversations that stay but now have the linked customer (their name and phone number may show otherwise).
    relinked_conversations: set[uuid.UUID] = field(default_factory=set)


@dataclass
class _Customer:
    """Who sent a message. WhatsApp's business-scoped user id (BSUID) is the customer's identity when the webhook
    carries one; the phone number only when it does not (customers from before BSUIDs, or payloads without)."""

    phone: str | None
    bsuid: str | None
    name: str | None
    username: str | None
    at: dt.datetime  # WhatsApp's time of the newest message this profile comes from

    @property
    def key(self) -> tuple[str, str]:
        return ("bsuid", self.bsuid) if self.bsuid else ("phone", self.phone or "")

    def display_name(self) -> str:
        return (self.name or self.username or self.phone or self.bsuid or "WhatsApp user")[:NAME_LIMIT]


def business_user_key(phone_number_id: str) -> str:
    """The BSUID column's key of a business number's own user known by its phone number id only."""
    return f"business.{phone_number_id}"[:160]


def _business_key(message: InboundMessage) -> tuple[str, str]:
    """How the business number's own user is found: ("phone", E.164) or ("bsuid", "business.<id>")."""
    phone = customer_phone(message.display_phone_number)
    return ("phone", phone) if phone else ("bsuid", business_user_key(message.phone_number_id))


# The user an operator's first message made for the number (conversations/outreach.py), before any webhook told
# its display number: it becomes the one known by that number, rather than a second user for the same business.
_ADOPT_BUSINESS_USER = (
    'UPDATE users u SET "phoneNumber" = %s, "updatedAt" = now() WHERE u.bsuid = %s AND u."phoneNumber" IS NULL'
    ' AND NOT EXISTS (SELECT 1 FROM users p WHERE p."phoneNumber" = %s) RETURNING u.id'
)


async def _business_user(conn: AsyncConnection[Any], message: InboundMessage) -> uuid.UUID:
    kind, key = _business_key(message)
    if kind == "phone":
        adopted = await (
            await conn.execute(_ADOPT_BUSINESS_USER, (key, business_user_key(message.phone_number_id), key))
        ).fetchone()
        if adopted is not None:
            return uuid.UUID(str(adopted[0]))
    phone, bsuid = (key, None) if kind == "phone" else (None, key)
    column = '"phoneNumber"' if kind == "phone" else "bsuid"
    name = f"Business {message.display_phone_number or message.phone_number_id}"[:NAME_LIMIT]
    await conn.execute(
        f'INSERT INTO users ("phoneNumber", bsuid, name) VALUES (%s, %s, %s) ON CONFLICT ({column}) DO NOTHING',
        (phone, bsuid, name),
    )
    row = await (await conn.execute(f"SELECT id FROM users WHERE {column} = %s", (key,))).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def _batch_customers(messages: list[InboundMessage]) -> list[_Customer]:
    """The senders of `messages`, one per identity, with the newest profile (by WhatsApp's time: Meta delivers
    out of order; in arrival order within a second). A phone number that several BSUIDs carried in one batch
    belongs to the newest of them: the number's current owner."""
    customers: dict[tuple[str, str], _Customer] = {}
    owners: dict[str, str] = {}
    for m in sorted(messages, key=lambda m: m.timestamp):
        # A profile name of blanks is no name: the inbox would show nothing, and a bot's greeting "Hi   !".
        name = (m.contact_name or "").strip() or None
        carried = customer_phone(m.from_phone)
        customer = _Customer(carried, m.from_user_id, name, m.contact_username, m.timestamp)
        if not (customer.phone or customer.bsuid):
            continue
        previous = customers.get(customer.key)
        if previous is not None:
            customer.phone = customer.phone or previous.phone
            customer.name = customer.name or previous.name
            customer.username = customer.username or previous.username
        # Only a message that carries the number itself claims it: a later one from the same BSUID without it
        # (a username user) says nothing about who holds the number now.
        if customer.bsuid and carried:
            owners[carried] = customer.bsuid
        customers[customer.key] = customer
    for customer in customers.values():
        if customer.bsuid and customer.phone and owners[customer.phone] != customer.bsuid:
            customer.phone = None
    return list(customers.values())


async def _lookup_users(
    conn: AsyncConnection[Any], customers: list[_Customer], businesses: list[tuple[str, str]]
) -> list[Any]:
    """The stored users for these customers (by BSUID and by phone number) and business numbers, in one read."""
    phones = [c.phone for c in customers if c.phone] + [k for kind, k in businesses if kind == "phone"]
    bsuids = [c.bsuid for c in customers if c.bsuid] + [k for kind, k in businesses if kind == "bsuid"]
    return list(
        await (
            await conn.execute(
                'SELECT u.id, u."phoneNumber", u.bsuid, u.name, u.username,'
                # The business side of a WhatsApp conversation (a number of this account): never a customer. (A
                # conversation made from a list of participants has no customer: its members are anyone.)
                ' EXISTS (SELECT 1 FROM conversation_participants p JOIN conversations c ON c.id = p."conversationId"'
                '  WHERE p."userId" = u.id AND c."customerId" <> u.id AND c."whatsappPhoneNumberId" IS NOT NULL)'
                ' FROM users u WHERE u."phoneNumber" = ANY(%s) OR u.bsuid = ANY(%s)',
                (phones, bsuids),
            )
        ).fetchall()
    )


def _known_customers(rows: list[Any], customers: list[_Customer]) -> dict[tuple[str, str], uuid.UUID] | None:
    """Returning customers whose stored profile is already up to date (no writes needed). None otherwise."""
    by_phone = {str(r[1]): r for r in rows if r[1] is not None}
    by_bsuid = {str(r[2]): r for r in rows if r[2] is not None}
    ids: dict[tuple[str, str], uuid.UUID] = {}
    for customer in customers:
        if customer.bsuid:
            row = by_bsuid.get(customer.bsuid)
            if row is None or (customer.phone is not None and row[1] != customer.phone):
                return None
        else:
            row = by_phone.get(customer.phone or "")
            if row is None:
                return None
        name_ok = customer.name is None or customer.name[:NAME_LIMIT] == row[3]
        username_ok = customer.username is None or customer.username == row[4]
        if not (name_ok and username_ok):
            return None
        ids[customer.key] = uuid.UUID(str(row[0]))
    return ids


def _stored_ids(rows: list[Any]) -> set[str]:
    """The phone numbers and BSUIDs of users read by `_lookup_users` (the two never look alike)."""
    return {str(v) for r in rows for v in (r[1], r[2]) if v is not None}


def _seen(stored: set[str], customer: _Customer) -> bool:
    """Whether a stored user has this customer's BSUID or phone number."""
    return (customer.bsuid is not None and customer.bsuid in stored) or (
        customer.phone is not None and customer.phone in stored
    )


def _merge_hint(rows: list[Any], pairs: list[_Customer]) -> bool:
    """Whether some customer's BSUID and phone number were read on two users, the phone one without a BSUID."""
    by_phone = {str(r[1]): r for r in rows if r[1] is not None}
    by_bsuid = {str(r[2]): r for r in rows if r[2] is not None}
    for c in pairs:
        with_bsuid, with_phone = by_bsuid.get(c.bsuid or ""), by_phone.get(c.phone or "")
        if (
            with_bsuid is not None
            and with_phone is not None
            and with_phone[2] is None
            and with_bsuid[0] != with_phone[0]
        ):
            return True
    return False


async def _customers(
    conn: AsyncConnection[Any],
    messages: list[InboundMessage],
    business_ids: dict[str, uuid.UUID],
    result: IngestResult,
) -> dict[tuple[str, str], uuid.UUID]:
    """Find or create the customers (and fill `business_ids`, the business numbers' own users). Keys are
    `_Customer.key`; a message whose sender has no id here is a redelivery (already stored) and is skipped."""
    customers = _batch_customers(messages)
    businesses = {m.phone_number_id: _business_key(m) for m in messages}
    rows = await _lookup_users(conn, customers, list(set(businesses.values())))
    ours = {str(v) for r in rows if r[5] for v in (r[1], r[2]) if v is not None}
    if ours:
        # One number of the business writing to another of its numbers: taken as a customer, the business's own
        # user would become that conversation's customer and take the sender's profile. Not stored.
        for m in messages:
            if customer_phone(m.from_phone) in ours or m.from_user_id in ours:
                log.warning(
                    "message not stored",
                    reason="its sender is a business number of this account",
                    whatsapp_message_id=m.wa_message_id,
                )
        customers = [c for c in customers if c.phone not in ours and c.bsuid not in ours]
        messages = [m for m in messages if customer_phone(m.from_phone) not in ours and m.from_user_id not in ours]
        rows = [
            r
            for r in rows
            if not r[5] or any(k == ("phone", r[1]) or k == ("bsuid", r[2]) for k in businesses.values())
        ]
    found = {("phone", str(r[1])): r[0] for r in rows if r[1] is not None}
    found |= {("bsuid", str(r[2])): r[0] for r in rows if r[2] is not None}
    for phone_number_id, key in businesses.items():
        if key in found:
            business_ids[phone_number_id] = uuid.UUID(str(found[key]))
        else:
            business_ids[phone_number_id] = await _business_user(
                conn, next(m for m in messages if m.phone_number_id == phone_number_id)
            )
    known = _known_customers(rows, customers)
    if known is not None:
        return known
    return await _write_customers(conn, customers, rows, result)


# A phone number now sent with another BSUID was recycled (or its owner changed number, which gives a new BSUID):
# the user of the old BSUID gives the number up and keeps its BSUID, conversations and history. Unless the
# message is older than the holder's profile: then it is a late one from the number's previous owner.
_RELEASE_PHONES = (
    'UPDATE users u SET "phoneNumber" = NULL, "updatedAt" = now()'
    " FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS c(phone, bsuid, at)"
    ' WHERE u."phoneNumber" = c.phone AND u.bsuid IS NOT NULL AND u.bsuid <> c.bsuid'
    ' AND (u."profileAt" IS NULL OR u."profileAt" < c.at)'
)


def no_bsuid(user: str) -> str:
    """`<user>.bsuid IS NULL`, written so that no index can answer it. Every customer known by phone number has a
    NULL entry in uq_users_bsuid; once it learns its BSUID that entry is dead, and until a VACUUM (autovacuum off,
    or not run yet) a plan that looks the few live NULLs up by that index walks every dead one: 5 ms a statement
    at 30,000 customers in the bench, growing with each. The statements that use this find their customers by
    another key (id, phone number) instead."""
    return f"coalesce({user}.bsuid, '') = ''"


# A customer known by phone number only (from before BSUIDs) learns its BSUID. Not from a message older than its
# profile: that may be a late one from the number's previous owner, whose BSUID is not this customer's.
_LEARN_BSUIDS = (
    'UPDATE users u SET bsuid = c.bsuid, "updatedAt" = now()'
    " FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS c(phone, bsuid, at)"
    f' WHERE u."phoneNumber" = c.phone AND {no_bsuid("u")} AND (u."profileAt" IS NULL OR u."profileAt" <= c.at)'
    " AND NOT EXISTS (SELECT 1 FROM users b WHERE b.bsuid = c.bsuid)"
)
# A customer first seen by BSUID only (or under another number) learns its phone number.
_LEARN_PHONES = (
    'UPDATE users u SET "phoneNumber" = c.phone, "profileAt" = greatest(u."profileAt", c.at), "updatedAt" = now()'
    " FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS c(phone, bsuid, at)"
    ' WHERE u.bsuid = c.bsuid AND u."phoneNumber" IS DISTINCT FROM c.phone'
    ' AND NOT EXISTS (SELECT 1 FROM users p WHERE p."phoneNumber" = c.phone)'
)


# Profiles change: the newest name wins, written only when different, and never by a message older than the
# stored profile's (Meta delivers late and out of order; within one second, the later arrival wins).
_UPDATE_PROFILES = (
    "UPDATE users u SET name = coalesce(c.name, u.name), username = coalesce(c.username, u.username),"
    ' "profileAt" = greatest(u."profileAt", c.at), "updatedAt" = now()'
    " FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[]) AS c(key, username, name, at)"
    " WHERE u.{key} = c.key AND ((c.name IS NOT NULL AND u.name IS DISTINCT FROM c.name)"
    " OR (c.username IS NOT NULL AND u.username IS DISTINCT FROM c.username))"
    ' AND (u."profileAt" IS NULL OR u."profileAt" <= c.at)'
)


async def _write_customers(
    conn: AsyncConnection[Any], customers: list[_Customer], rows: list[Any], result: IngestResult
) -> dict[tuple[str, str], uuid.UUID]:
    """Create new customers, link BSUIDs and phone numbers, update profiles: a few set-based statements."""
    # Sorted, so that concurrent transactions upsert rows in the same order and cannot deadlock on each other.
    by_bsuid = sorted((c for c in customers if c.bsuid), key=lambda c: c.bsuid or "")
    by_phone = sorted((c for c in customers if not c.bsuid), key=lambda c: c.phone or "")

    if by_bsuid:
        # Only pairs whose BSUID or number is stored already can need linking; brand-new customers skip this.
        known_ids = _stored_ids(rows)
        pairs = [c for c in by_bsuid if c.phone and _seen(known_ids, c)]
        if pairs:
            params = ([c.phone for c in pairs], [c.bsuid for c in pairs], [c.at for c in pairs])
            if _merge_hint(rows, pairs):
                await _merge_users(conn, *params, result)
            await conn.execute(_RELEASE_PHONES, params)
            await conn.execute(_LEARN_BSUIDS, params)
            await conn.execute(_LEARN_PHONES, params)
        await conn.execute(
            'INSERT INTO users ("phoneNumber", bsuid, username, name, "profileAt")'
            ' SELECT CASE WHEN EXISTS (SELECT 1 FROM users p WHERE p."phoneNumber" = c.phone) THEN NULL'
            " ELSE c.phone END, c.bsuid, c.username, c.name, c.at FROM unnest(%s::varchar[], %s::varchar[],"
            " %s::varchar[], %s::varchar[], %s::timestamptz[]) AS c(phone, bsuid, username, name, at)"
            " ON CONFLICT DO NOTHING",
            (
                [c.phone for c in by_bsuid],
                [c.bsuid for c in by_bsuid],
                [c.username for c in by_bsuid],
                [c.display_name() for c in by_bsuid],
                [c.at for c in by_bsuid],
            ),
        )
        await conn.execute(
            _UPDATE_PROFILES.format(key="bsuid"),
            (
                [c.bsuid for c in by_bsuid],
                [c.username for c in by_bsuid],
                [c.name[:NAME_LIMIT] if c.name else None for c in by_bsuid],
                [c.at for c in by_bsuid],
            ),
        )

    if by_phone:
        phones = [c.phone for c in by_phone]
        ats = [c.at for c in by_phone]
        await conn.execute(
            'INSERT INTO users ("phoneNumber", username, name, "profileAt")'
            " SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[])"
            ' ON CONFLICT ("phoneNumber") DO NOTHING',
            (phones, [c.username for c in by_phone], [c.display_name() for c in by_phone], ats),
        )
        await conn.execute(
            _UPDATE_PROFILES.format(key='"phoneNumber"'),
            (phones, [c.username for c in by_phone], [c.name[:NAME_LIMIT] if c.name else None for c in by_phone], ats),
        )

    bsuids = [c.bsuid for c in by_bsuid]
    phones_only = [c.phone for c in by_phone]
    stored = await (
        await conn.execute(
            'SELECT id, "phoneNumber", bsuid FROM users WHERE bsuid = ANY(%s) OR "phoneNumber" = ANY(%s)',
            (bsuids, phones_only),
        )
    ).fetchall()
    wanted_bsuids, wanted_phones = set(bsuids), set(phones_only)
    ids: dict[tuple[str, str], uuid.UUID] = {}
    for uid, phone, bsuid in stored:
        if bsuid is not None and bsuid in wanted_bsuids:
            ids[("bsuid", str(bsuid))] = uuid.UUID(str(uid))
        if phone is not None and phone in wanted_phones:
            ids[("phone", str(phone))] = uuid.UUID(str(uid))
    if len(ids) < len(customers):
        # A concurrent delivery took a number between our statements (its insert committed after our check):
        # write the batch again rather than drop a message.
        raise pg_errors.SerializationFailure("a customer's phone number was taken concurrently; retrying")
    return ids


async def _merge_users(
    conn: AsyncConnection[Any],
    phones: list[str | None],
    bsuids: list[str | None],
    ats: list[dt.datetime],
    result: IngestResult,
) -> None:
    """Link a BSUID and a phone number that arrived together but are stored on two users: the user with the phone
    number (and no BSUID: a customer from before BSUIDs) stays, and the BSUID-only user is merged into it. Its
    conversations become the remaining user's; one with the same business number as a conversation the
    remaining user already has is merged into that one (messages, bot contexts and waiting jobs move; the
    newest active bot context stays active), so the inbox shows one conversation with the whole history."""
    pairs = await (
        await conn.execute(
            "SELECT b.id, p.id FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS c(phone, bsuid, at)"
            ' JOIN users b ON b.bsuid = c.bsuid JOIN users p ON p."phoneNumber" = c.phone'
            f" WHERE {no_bsuid('p')} AND b.id <> p.id"
            # Not on a message older than the phone user's profile: as for _LEARN_BSUIDS, that may be a late one
            # from the number's previous owner, who is someone else.
            ' AND (p."profileAt" IS NULL OR p."profileAt" <= c.at) ORDER BY b.id FOR UPDATE OF b, p',
            (phones, bsuids, ats),
        )
    ).fetchall()
    if not pairs:
        return
    await _merge_user_pairs(conn, [uuid.UUID(str(r[0])) for r in pairs], [uuid.UUID(str(r[1])) for r in pairs], result)


async def _merge_user_pairs(
    conn: AsyncConnection[Any], sources: list[uuid.UUID], targets: list[uuid.UUID], result: IngestResult
) -> None:
    """Merge each user of `sources` (already row-locked) into the user at the same place in `targets`."""
    target_of = dict(zip(sources, targets, strict=True))
    # Row-lock every conversation involved (in id order): a worker answering one of them finishes first.
    conversations = await (
        await conn.execute(
            'SELECT id, "customerId", "whatsappPhoneNumberId" FROM conversations WHERE "customerId" = ANY(%s)'
            " ORDER BY id FOR UPDATE",
            (sources + targets,),
        )
    ).fetchall()
    targets_by_number = {
        (uuid.UUID(str(c[1])), c[2]): uuid.UUID(str(c[0]))
        for c in conversations
        if uuid.UUID(str(c[1])) not in target_of and c[2] is not None
    }
    moved: list[tuple[uuid.UUID, uuid.UUID]] = []  # (conversation, its new customer)
    merged: list[tuple[uuid.UUID, uuid.UUID]] = []  # (conversation, the conversation it is merged into)
    for conv_id, customer_id, number in conversations:
        source = uuid.UUID(str(customer_id))
        if source not in target_of:
            continue
        into = targets_by_number.get((target_of[source], number)) if number is not None else None
        if into is None:
            moved.append((uuid.UUID(str(conv_id)), target_of[source]))
        else:
            merged.append((uuid.UUID(str(conv_id)), into))
    if moved:
        await conn.execute(
            'UPDATE conversations c SET "customerId" = m.customer, "updatedAt" = now()'
            " FROM unnest(%s::uuid[], %s::uuid[]) AS m(id, customer) WHERE c.id = m.id",
            ([m[0] for m in moved], [m[1] for m in moved]),
        )
    if merged:
        await _merge_conversations(conn, [m[0] for m in merged], [m[1] for m in merged])
    users = (sources, targets)
    await conn.execute(
        'INSERT INTO conversation_participants ("conversationId", "userId")'
        ' SELECT p."conversationId", m.target FROM conversation_participants p'
        ' JOIN unnest(%s::uuid[], %s::uuid[]) AS m(source, target) ON p."userId" = m.source'
        " ON CONFLICT DO NOTHING",
        users,
    )
    await conn.execute(
        'UPDATE messages x SET "senderId" = m.target FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target)'
        ' WHERE x."senderId" = m.source',
        users,
    )
    await conn.execute(
        'UPDATE users u SET username = s.username, "updatedAt" = now()'
        " FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target) JOIN users s ON s.id = m.source"
        " WHERE u.id = m.target AND u.username IS NULL AND s.username IS NOT NULL",
        users,
    )
    await conn.execute(
        'UPDATE user_previous_identities r SET "userId" = m.target'
        ' FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target) WHERE r."userId" = m.source',
        users,
    )
    # Frees the BSUID for the remaining user (_LEARN_BSUIDS); the merged user's participations go with it.
    await conn.execute("DELETE FROM users WHERE id = ANY(%s)", (sources,))
    result.merged_conversations.update(merged)
    result.relinked_conversations.update(m[0] for m in moved)


async def _merge_conversations(conn: AsyncConnection[Any], sources: list[uuid.UUID], targets: list[uuid.UUID]) -> None:
    """Move everything of each source conversation into its target, then delete the source."""
    params = (sources, targets)
    await conn.execute(
        'UPDATE messages x SET "conversationId" = m.target FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target)'
        ' WHERE x."conversationId" = m.source',
        params,
    )
    await conn.execute(
        'UPDATE conversation_contexts x SET "conversationId" = m.target'
        ' FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target) WHERE x."conversationId" = m.source',
        params,
    )
    # One active bot context per conversation: the newest, where the customer was last.
    await conn.execute(
        'UPDATE conversation_contexts x SET "isActive" = false, "updatedAt" = now(),'
        ' "engineState" = x."engineState" || \'{"endedReason": "merged"}\''
        ' WHERE x."conversationId" = ANY(%s) AND x."isActive" AND EXISTS (SELECT 1 FROM conversation_contexts n'
        ' WHERE n."conversationId" = x."conversationId" AND n."isActive"'
        ' AND (n."createdAt", n.id) > (x."createdAt", x.id))',
        (targets,),
    )
    await conn.execute(
        'UPDATE conversations d SET "lastCustomerMessageAt" = greatest(d."lastCustomerMessageAt",'
        ' s."lastCustomerMessageAt"), "isWindowOpen" = d."isWindowOpen" OR s."isWindowOpen",'
        ' "isHandedOff" = d."isHandedOff" OR s."isHandedOff",'
        ' "lastMessage" = CASE WHEN d."lastMessageAt" IS NULL OR s."lastMessageAt" > d."lastMessageAt"'
        ' THEN s."lastMessage" ELSE d."lastMessage" END,'
        ' "lastMessageAt" = greatest(d."lastMessageAt", s."lastMessageAt"), "updatedAt" = now()'
        " FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target) JOIN conversations s ON s.id = m.source"
        " WHERE d.id = m.target",
        params,
    )
    # Waiting jobs follow: flow steps and sends keep their per-conversation order, timers find their context.
    # Two equality joins (by lock, then by argument), not one join on an OR, which compared every waiting job
    # with every merged pair: seconds for a few hundred merges while a broadcast fills the queue.
    await conn.execute(
        "UPDATE procrastinate_jobs j SET lock = m.prefix || m.target::text,"
        " args = CASE WHEN j.args->>'conversation_id' = m.source::text"
        " THEN jsonb_set(j.args, '{conversation_id}', to_jsonb(m.target::text)) ELSE j.args END"
        " FROM (SELECT p, s, t FROM unnest(%s::uuid[], %s::uuid[]) AS x(s, t),"
        " unnest(ARRAY['flow:', 'send:']) AS p) AS m(prefix, source, target)"
        " WHERE j.status = 'todo' AND j.lock = m.prefix || m.source::text",
        params,
    )
    await conn.execute(
        "UPDATE procrastinate_jobs j SET args = jsonb_set(j.args, '{conversation_id}', to_jsonb(m.target::text))"
        " FROM unnest(%s::uuid[], %s::uuid[]) AS m(source, target)"
        " WHERE j.status = 'todo' AND j.args->>'conversation_id' = m.source::text",
        params,
    )
    await conn.execute("DELETE FROM conversations WHERE id = ANY(%s)", (sources,))


async def _conversations(
    conn: AsyncConnection[Any],
    pairs: dict[tuple[str, uuid.UUID], dt.datetime | None],
    business_ids: dict[str, uuid.UUID],
) -> dict[tuple[str, uuid.UUID], uuid.UUID]:
    """Find or create each 1:1 conversation and move its window (not for None: no customer message), in one
    statement."""
    keys = sorted(pairs)
    rows = await (
        await conn.execute(
            'INSERT INTO conversations ("whatsappPhoneNumberId", "customerId", "lastCustomerMessageAt", "isWindowOpen")'
            " SELECT p, c, t, t IS NOT NULL FROM unnest(%s::varchar[], %s::uuid[], %s::timestamptz[]) AS x(p, c, t)"
            ' ON CONFLICT ("whatsappPhoneNumberId", "customerId") DO UPDATE SET'
            ' "lastCustomerMessageAt" = greatest(conversations."lastCustomerMessageAt", EXCLUDED."lastCustomerMessageAt"),'
            ' "isWindowOpen" = conversations."isWindowOpen" OR EXCLUDED."isWindowOpen", "updatedAt" = now()'
            ' RETURNING id, "whatsappPhoneNumberId", "customerId", (xmax = 0) AS inserted',
            ([k[0] for k in keys], [k[1] for k in keys], [pairs[k] for k in keys]),
        )
    ).fetchall()
    found: dict[tuple[str, uuid.UUID], uuid.UUID] = {}
    participants: list[tuple[uuid.UUID, uuid.UUID]] = []
    for conv_id, phone_number_id, customer_id, inserted in rows:
        conv = uuid.UUID(str(conv_id))
        customer = uuid.UUID(str(customer_id))
        found[(str(phone_number_id), customer)] = conv
        if inserted:
            participants += [(conv, customer), (conv, business_ids[str(phone_number_id)])]
    if participants:
        await conn.execute(
            'INSERT INTO conversation_participants ("conversationId", "userId")'
            " SELECT * FROM unnest(%s::uuid[], %s::uuid[]) ON CONFLICT DO NOTHING",
            ([p[0] for p in participants], [p[1] for p in participants]),
        )
    return found


async def _store_messages(
    conn: AsyncConnection[Any],
    batch: list[tuple[InboundMessage, uuid.UUID, uuid.UUID]],
    ids: Uuid7Generator,
    result: IngestResult,
) -> None:
    """Insert the messages; those already stored (a redelivery) are skipped by the unique WhatsApp id."""
    rows = []
    for message, conversation_id, sender_id in sorted(batch, key=lambda b: b[0].timestamp):
        content = dict(message.content)
        if message.type == "unsupported":
            content["raw"] = message.raw
        rows.append(
            (
                ids.new(),
                conversation_id,
                sender_id,
                message.type,
                content,
                message.timestamp,
                message.wa_message_id,
            )
        )
    inserted = await (
        await conn.execute(
            'INSERT INTO messages (id, "conversationId", "senderId", type, content, status, "timestamp",'
            ' "whatsappMessageId", direction, "sentBy")'
            " SELECT (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, (r->>3)::message_type, r->4, 'delivered',"
            " (r->>5)::timestamptz, r->>6, 'inbound', 'customer' FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, n)"
            " ORDER BY n"
            ' ON CONFLICT ("whatsappMessageId") DO NOTHING'
            # Not `content`: it is what was just written, and reading it back means decoding JSON again.
            ' RETURNING id, "conversationId", "senderId", type::text, status::text, "timestamp",'
            ' "whatsappMessageId", "createdAt", "updatedAt"',
            (json_rows(rows),),
        )
    ).fetchall()
    contents = {row[0]: row[4] for row in rows}
    by_conversation: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for row in inserted:
        message_id, conversation_id = uuid.UUID(str(row[0])), uuid.UUID(str(row[1]))
        by_conversation[conversation_id].append(message_id)
        result.new_messages.append(
            {
                "id": str(message_id),
                "conversationId": str(conversation_id),
                "senderId": str(row[2]),
                "type": row[3],
                "content": contents[message_id],
                "status": row[4],
                "timestamp": api_time(row[5]),
                "whatsappMessageId": row[6],
                "error": None,
                "direction": "inbound",
                "sentBy": "customer",
                "createdAt": api_time(row[7]),
                "updatedAt": api_time(row[8]),
            }
        )
    for conversation_id, message_ids in by_conversation.items():
        # RETURNING order is not guaranteed; ids are time ordered, so sorting restores arrival order.
        result.new_by_conversation[conversation_id] = sorted(message_ids)
    notices = {
        message_id
        for message_id, message_type in ((uuid.UUID(str(row[0])), row[3]) for row in inserted)
        if not is_for_the_bot(message_type, contents[message_id])
    }
    for conversation_id, message_ids in result.new_by_conversation.items():
        inputs = [m for m in message_ids if m not in notices]
        if inputs:
            result.flow_inputs[conversation_id] = inputs


_STATUS_ROWS = "SELECT * FROM unnest(%s::varchar[], %s::text[], %s::jsonb[]) AS s(wamid, status, error)"
# Forward only, on our own messages only (WhatsApp sends no statuses for customers' messages); a message that
# turns out read after all no longer carries the error of its failure.
_MOVE = (
    "UPDATE messages m SET status = s.status::message_status,"
    " error = CASE WHEN s.status = 'failed' THEN coalesce(s.error, m.error) END, \"updatedAt\" = now() FROM s"
    ' WHERE m."whatsappMessageId" = s.wamid AND status_rank(s.status) > status_rank(m.status::text)'
    " AND m.direction IS DISTINCT FROM 'inbound'"
    ' RETURNING m.id, m."conversationId", m.status::text, m."whatsappMessageId", m.error'
)
# The same update, plus every id that exists (moved or not: a late or repeated status), in one round trip: the
# second part reads the snapshot from before the update.
_UPDATE_AND_FIND = (
    f"WITH s AS ({_STATUS_ROWS}), moved AS ({_MOVE})"
    ' SELECT true, id, "conversationId", status, "whatsappMessageId", error FROM moved'
    ' UNION ALL SELECT false, NULL::uuid, NULL::uuid, NULL::text, m."whatsappMessageId", NULL::jsonb'
    ' FROM messages m JOIN s ON m."whatsappMessageId" = s.wamid'
)


def _status_params(wamids: list[str], reduced: dict[str, ReducedStatus]) -> tuple[Any, ...]:
    return (
        wamids,
        [reduced[w].status for w in wamids],
        [Jsonb(reduced[w].error) if reduced[w].error else None for w in wamids],
    )


def _record_change(result: IngestResult, row: Any) -> None:
    message_id, conversation_id, status, wamid, error = row
    result.status_changes.append(
        {
            "id": str(message_id),
            "conversationId": str(conversation_id),
            "status": status,
            "whatsappMessageId": wamid,
            "error": error,
        }
    )


def reduce_batch_statuses(statuses: list[StatusUpdate]) -> dict[str, ReducedStatus]:
    """The furthest storable status per WhatsApp id of a delivery."""
    return reduce_statuses(
        (storable(s.wa_message_id), s.status, storable(s.errors))
        for s in statuses
        if len(s.wa_message_id) <= WAMID_LIMIT
    )


async def move_statuses(
    conn: AsyncConnection[Any], reduced: dict[str, ReducedStatus], result: IngestResult
) -> list[str]:
    """Move the statuses of stored messages forward, in one statement (safe in autocommit). Returns the ids no
    message has yet: see `settle_missing_statuses`."""
    if not reduced:
        return []
    wamids = sorted(reduced)
    rows = await (await conn.execute(_UPDATE_AND_FIND, _status_params(wamids, reduced))).fetchall()
    found: set[str] = set()
    for moved, *row in rows:
        found.add(str(row[3]))
        if moved:
            _record_change(result, row)
    return [w for w in wamids if w not in found]


async def apply_statuses(conn: AsyncConnection[Any], statuses: list[StatusUpdate], result: IngestResult) -> None:
    """Move each message's status forward only; keep statuses for ids not stored yet in the backlog."""
    reduced = reduce_batch_statuses(statuses)
    missing = await move_statuses(conn, reduced, result)
    await settle_missing_statuses(conn, missing, reduced, result)


async def settle_missing_statuses(
    conn: AsyncConnection[Any], missing: list[str], reduced: dict[str, ReducedStatus], result: IngestResult
) -> None:
    """Statuses for ids no message has yet (in a transaction): applied if the sender stores the id meanwhile,
    else kept in the backlog until it does."""
    if not missing:
        return
    # An id not visible yet may be in the sender's uncommitted transaction (delivery._finish). Take the id's
    # lock, which the sender holds until it commits, then look again: whichever of the two commits second
    # sees the other's row, so an early status is never stranded in the backlog.
    await lock_wamids(conn, missing)
    unknown = await move_statuses(conn, {w: reduced[w] for w in missing}, result)
    if unknown:
        await conn.execute(
            'INSERT INTO whatsapp_status_backlog ("whatsappMessageId", status, error)'
            " SELECT w, s::message_status, e FROM unnest(%s::varchar[], %s::text[], %s::jsonb[]) AS x(w, s, e)"
            # The error goes with the status it came with: a `read` after a `failed` is read, without it (as on a
            # stored message).
            ' ON CONFLICT ("whatsappMessageId") DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error'
            " WHERE status_rank(EXCLUDED.status::text) > status_rank(whatsapp_status_backlog.status::text)",
            (
                unknown,
                [reduced[w].status for w in unknown],
                [Jsonb(reduced[w].error) if reduced[w].error else None for w in unknown],
            ),
        )


IDENTITY_CHANGES = ("user_changed_number", "user_changed_user_id")


def _identity_change(message: InboundMessage) -> tuple[str | None, str | None] | None:
    """For WhatsApp's notice that a customer changed number (`user_changed_number`, with the new `wa_id` and
    BSUID) or BSUID (`user_changed_user_id`): (new phone in E.164, new BSUID). None for any other message."""
    if message.type != "system" or message.content.get("kind") not in IDENTITY_CHANGES:
        return None
    # `new_wa_id` is how webhooks before v12 named the new number (still sent to apps subscribed to them).
    wa_id = message.content.get("waId") or message.content.get("newWaId")
    new_phone = customer_phone(wa_id) if isinstance(wa_id, str) else None
    new_bsuid = valid_bsuid(message.content.get("userId"))
    new_bsuid = new_bsuid if new_bsuid and len(new_bsuid) <= BSUID_LIMIT else None
    return (new_phone, new_bsuid) if new_phone or new_bsuid else None


def _from_previous_identity(message: InboundMessage) -> InboundMessage:
    """The notice of an identity change speaks about the customer as they were: it is the old user's (by
    `previous_user_id`, else by the number it comes from), whatever new id the message carries."""
    if _identity_change(message) is None:
        return message
    previous = valid_bsuid(message.content.get("previousUserId"))
    if previous and len(previous) <= BSUID_LIMIT:
        return replace(message, from_user_id=previous)
    return replace(message, from_user_id=None) if message.from_phone else message


# The customer of an identity change takes the new number and BSUID (a user still holding either, after the merge
# and the release below, keeps it: then they stay two users, with a warning). The change is the customer's newest
# word on who they are: a late message from the number's previous holder, written before it, does not take it back.
_FOLLOW_IDENTITY = (
    "UPDATE users u SET"
    ' "profileAt" = greatest(u."profileAt", %(at)s),'
    ' "phoneNumber" = CASE WHEN %(phone)s::varchar IS NOT NULL AND NOT EXISTS'
    ' (SELECT 1 FROM users o WHERE o."phoneNumber" = %(phone)s AND o.id <> u.id) THEN %(phone)s'
    ' ELSE u."phoneNumber" END,'
    " bsuid = CASE WHEN %(bsuid)s::varchar IS NOT NULL AND NOT EXISTS"
    " (SELECT 1 FROM users o WHERE o.bsuid = %(bsuid)s AND o.id <> u.id) THEN %(bsuid)s ELSE u.bsuid END,"
    ' "updatedAt" = now() WHERE u.id = %(id)s RETURNING "phoneNumber", bsuid'
)


async def _follow_identity_changes(
    conn: AsyncConnection[Any],
    changes: list[tuple[uuid.UUID, str | None, str | None, dt.datetime]],
    result: IngestResult,
) -> None:
    for user_id, phone, bsuid, changed_at in changes:
        if bsuid is not None:
            # A user with the new BSUID is this customer, seen under the new identity before the notice came (a
            # BSUID is one person's): merged into the customer, so there is one conversation with everything.
            held = await (
                await conn.execute(
                    "SELECT id FROM users WHERE id IN (%s, (SELECT o.id FROM users o WHERE o.bsuid = %s))"
                    " ORDER BY id FOR UPDATE",
                    (user_id, bsuid),
                )
            ).fetchall()
            others = [uuid.UUID(str(r[0])) for r in held if uuid.UUID(str(r[0])) != user_id]
            if others:
                await _merge_user_pairs(conn, others, [user_id] * len(others), result)
        if phone is not None:
            # Someone else with the new number had it before (WhatsApp recycles numbers): they give it up.
            await conn.execute(
                'UPDATE users SET "phoneNumber" = NULL, "updatedAt" = now()'
                ' WHERE "phoneNumber" = %s AND id <> %s AND bsuid IS NOT NULL',
                (phone, user_id),
            )
        before = await (
            await conn.execute('SELECT "phoneNumber", bsuid FROM users WHERE id = %s FOR UPDATE', (user_id,))
        ).fetchone()
        row = await (
            await conn.execute(_FOLLOW_IDENTITY, {"id": user_id, "phone": phone, "bsuid": bsuid, "at": changed_at})
        ).fetchone()
        if before is not None and row is not None:
            left_phone = before[0] if before[0] is not None and before[0] != row[0] else None
            left_bsuid = before[1] if before[1] is not None and before[1] != row[1] else None
            if left_phone or left_bsuid:
                await conn.execute(
                    'INSERT INTO user_previous_identities ("userId", "phoneNumber", bsuid, "changedAt")'
                    " VALUES (%s, %s, %s, %s)",
                    (user_id, left_phone, left_bsuid, changed_at),
                )
        if row is not None and ((phone and row[0] != phone) or (bsuid and row[1] != bsuid)):
            log.warning(
                "a customer's new number or WhatsApp user id is already another user's; left as it is",
                user_id=str(user_id),
            )


def _follow_merges(result: IngestResult) -> None:
    """After a merge that came after this batch's messages were stored (an identity change), they and their flow
    inputs belong to the conversation they were merged into."""
    into = result.merged_conversations
    for table in (result.new_by_conversation, result.flow_inputs):
        for gone in [c for c in table if c in into]:
            ids = table.pop(gone)
            table[into[gone]] = sorted({*table.get(into[gone], []), *ids})
    for message in result.new_messages:
        moved = into.get(uuid.UUID(message["conversationId"]))
        if moved is not None:
            message["conversationId"] = str(moved)


async def _as_current_identities(conn: AsyncConnection[Any], messages: list[InboundMessage]) -> list[InboundMessage]:
    """Messages from a phone number or BSUID a customer left (user_previous_identities), as from who they are now.

    A BSUID is one person's for good, so whatever comes from a left one is theirs. A phone number is recycled, so a
    message from a left number without a BSUID is theirs only when written before they left it; a message from it
    with a BSUID that is not a left one is from the number's next owner, and stays theirs."""
    phones = sorted({p for m in messages if not m.from_user_id and (p := customer_phone(m.from_phone))})
    bsuids = sorted({m.from_user_id for m in messages if m.from_user_id})
    rows = await (
        await conn.execute(
            'SELECT r."phoneNumber", r.bsuid, r."changedAt", u."phoneNumber", u.bsuid'
            ' FROM user_previous_identities r JOIN users u ON u.id = r."userId"'
            ' WHERE r.bsuid = ANY(%s) OR r."phoneNumber" = ANY(%s) ORDER BY r."changedAt", r.id',
            (bsuids, phones),
        )
    ).fetchall()
    if not rows:
        return messages
    by_bsuid = {str(r[1]): (r[3], r[4]) for r in rows if r[1] is not None}
    phone_leavers: dict[str, list[tuple[dt.datetime, tuple[str | None, str | None]]]] = {}
    for r in rows:
        if r[0] is not None:
            phone_leavers.setdefault(str(r[0]), []).append((r[2], (r[3], r[4])))
    current: list[InboundMessage] = []
    for m in messages:
        now_as: tuple[str | None, str | None] | None = None
        if m.from_user_id:
            now_as = by_bsuid.get(m.from_user_id)
        elif (phone := customer_phone(m.from_phone)) is not None:
            now_as = next((who for left_at, who in phone_leavers.get(phone, []) if m.timestamp <= left_at), None)
        if now_as is not None and (now_as[0] or now_as[1]):
            m = replace(m, from_phone=now_as[0], from_user_id=now_as[1])
        current.append(m)
    return current


def _ingestible(batch: WebhookBatch) -> list[InboundMessage]:
    kept, refused = [], []
    for message in batch.messages:
        message = _from_previous_identity(message)
        cleaned = _storable(message) if why_not_stored(message) is None else None
        if cleaned is None:
            refused.append(message)
            continue
        kept.append(cleaned)
    log_not_stored(refused)
    return kept


async def _not_stored_yet(conn: AsyncConnection[Any], messages: list[InboundMessage]) -> list[InboundMessage]:
    """The messages whose WhatsApp id is new: not stored, and not an earlier message's of this batch.

    Only those speak for their senders. A redelivery must not move a phone number or a name back to what it was
    when first sent (the number may have been recycled since), nor move a conversation or its window; and an id
    already stored that comes with another sender (a forged or broken payload) must not make that sender a
    customer with an empty conversation whose window is open. (Two transactions storing the same new id at once
    are still settled by the unique index: the second stores nothing.)"""
    first: dict[str, InboundMessage] = {}
    for message in messages:
        first.setdefault(message.wa_message_id, message)
    if not first:
        return []
    stored = await (
        await conn.execute(
            'SELECT "whatsappMessageId" FROM messages WHERE "whatsappMessageId" = ANY(%s)', (list(first),)
        )
    ).fetchall()
    old = {str(r[0]) for r in stored}
    return [m for wamid, m in first.items() if wamid not in old]


def why_not_stored(message: InboundMessage) -> str | None:
    """Why ingest cannot store this message (its ids do not fit, or no customer can be told from it), or None."""
    if len(message.wa_message_id) > WAMID_LIMIT:
        return "its id is longer than WhatsApp's"
    if len(message.phone_number_id) > WAMID_LIMIT:
        return "its business number's id is longer than WhatsApp's"
    user_id = message.from_user_id if message.from_user_id and len(message.from_user_id) <= BSUID_LIMIT else None
    # As ingest decides who the sender is (customer_phone is cached: the second call costs nothing).
    phone = customer_phone(storable(message.from_phone))
    if phone is not None and phone == customer_phone(message.display_phone_number):
        # No customer writes from the business's own number; taken as one, it was merged with the business's user.
        return "its sender is the business number itself"
    if phone or storable(user_id):
        return None
    return "its sender has neither a phone number nor a business-scoped user id (BSUID) that can be stored"


def log_not_stored(messages: Sequence[InboundMessage]) -> None:
    warn_first(
        log,
        "message not stored",
        messages,
        lambda m: {
            "reason": why_not_stored(m),
            "whatsapp_message_id": m.wa_message_id[:WAMID_LIMIT],
            "phone_number_id": m.phone_number_id[:WAMID_LIMIT],
            "sender": (m.from_phone or "")[:40],
        },
    )


def ingestible_ids(batch: WebhookBatch) -> list[str]:
    """The WhatsApp ids of the batch's messages that ingest stores (or finds already stored), as stored. Cheap:
    it does not clean the messages' contents, which only ingest needs."""
    return [storable(m.wa_message_id) for m in batch.messages if why_not_stored(m) is None]


async def ingest(
    conn: AsyncConnection[Any], batch: WebhookBatch, ids: Uuid7Generator, connected_number: str | None
) -> IngestResult:
    """Store the batch. Only messages to `connected_number` (the active config's phone number id) go to the
    chatbot: one to another number of the business (another number of the app, or the number connected before) is
    stored and shown, but nothing can answer it from the number it was sent to."""
    result = IngestResult()
    messages = await _not_stored_yet(conn, _ingestible(batch))
    if messages:
        messages = await _as_current_identities(conn, messages)
        business_ids: dict[str, uuid.UUID] = {}
        customer_ids = await _customers(conn, messages, business_ids, result)
        placed: list[tuple[InboundMessage, tuple[str, uuid.UUID], uuid.UUID]] = []
        windows: dict[tuple[str, uuid.UUID], dt.datetime | None] = {}
        for m in messages:
            customer = _Customer(customer_phone(m.from_phone), m.from_user_id, None, None, m.timestamp)
            if not (customer.phone or customer.bsuid):
                log.warning(
                    "message not stored: its sender is neither a phone number nor a WhatsApp user id",
                    whatsapp_message_id=m.wa_message_id,
                    sender=(m.from_phone or "")[:40],
                )
                continue
            customer_id = customer_ids.get(customer.key)
            if customer_id is None:
                continue  # a redelivery (see _customers)
            pair = (m.phone_number_id, customer_id)
            if is_notice(m.type, m.content):
                windows.setdefault(pair, None)  # the conversation, but not the window
            else:
                windows[pair] = max(windows.get(pair) or m.timestamp, m.timestamp)
            placed.append((m, pair, customer_id))
        conversations = await _conversations(conn, windows, business_ids)
        await _store_messages(conn, [(m, conversations[pair], sender) for m, pair, sender in placed], ids, result)
        changed = [(m, sender, change) for m, _, sender in placed if (change := _identity_change(m)) is not None]
        if changed:
            # Only notices stored now (not redelivered): a week-old redelivery must not take back a number.
            stored_now = {m["whatsappMessageId"] for m in result.new_messages}
            changes = [(sender, *change, m.timestamp) for m, sender, change in changed if m.wa_message_id in stored_now]
            if changes:
                await _follow_identity_changes(conn, changes, result)
                _follow_merges(result)
        elsewhere = {c for (number, _), c in conversations.items() if number != connected_number}
        for conversation_id in elsewhere & result.flow_inputs.keys():
            del result.flow_inputs[conversation_id]
    await apply_statuses(conn, batch.statuses, result)
    return result
