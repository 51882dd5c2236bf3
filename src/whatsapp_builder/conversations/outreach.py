"""Operators writing first: the conversation of the active WhatsApp number with a customer given by phone number.

Webhooks make a conversation when a customer writes; a business that wants to write first (an order update, a
reminder) needs one before the customer ever did. It is found or made exactly as ingest makes it (the unique
pair of business number and customer, with both as participants), so the customer's answer lands in it: by
phone number, or by the BSUID WhatsApp named when it accepted our first send (whatsapp/fast_delivery.py). Not
when WhatsApp knows the customer under another form of the number than the one typed (Mexico's 52 1 …): their
answer then starts a conversation of its own. Its 24-hour window stays closed until the customer writes: until
then only a template can be sent (WhatsApp's rule).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from whatsapp_builder.conversations.snapshots import conversation_snapshots
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.errors import Conflict, Unprocessable
from whatsapp_builder.realtime import events
from whatsapp_builder.whatsapp.ingest import NAME_LIMIT, business_user_key


@dataclass(frozen=True)
class Opened:
    conversation_id: uuid.UUID
    created: bool


# The business number's own user, as ingest knows it: the business participant of any of the number's
# conversations (ingest made it from a webhook's display phone number; one index probe, any conversation will
# do), else the one keyed by the phone number id, which ingest adopts when the number's first webhook arrives.
_BUSINESS_USER = (
    'SELECT p."userId" FROM conversations c JOIN conversation_participants p ON p."conversationId" = c.id'
    ' WHERE c."whatsappPhoneNumberId" = %s AND p."userId" IS DISTINCT FROM c."customerId" LIMIT 1'
)


async def _business_user(conn: AsyncConnection[Any], phone_number_id: str) -> uuid.UUID:
    row = await (await conn.execute(_BUSINESS_USER, (phone_number_id,))).fetchone()
    if row is not None:
        return uuid.UUID(str(row[0]))
    key = business_user_key(phone_number_id)
    await conn.execute(
        "INSERT INTO users (bsuid, name) VALUES (%s, %s) ON CONFLICT (bsuid) DO NOTHING",
        (key, f"Business {phone_number_id}"[:NAME_LIMIT]),
    )
    found = await (await conn.execute("SELECT id FROM users WHERE bsuid = %s", (key,))).fetchone()
    assert found is not None
    return uuid.UUID(str(found[0]))


async def _customer(conn: AsyncConnection[Any], phone: str, name: str | None) -> uuid.UUID:
    """The user with this phone number (its stored name is kept), else a new one."""
    await conn.execute(
        'INSERT INTO users ("phoneNumber", name) VALUES (%s, %s) ON CONFLICT ("phoneNumber") DO NOTHING',
        (phone, (name or phone)[:NAME_LIMIT]),
    )
    row = await (await conn.execute('SELECT id FROM users WHERE "phoneNumber" = %s', (phone,))).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


async def open_with_customer(context: AppContext, phone: str, name: str | None) -> Opened:
    """Find or make the conversation of the active WhatsApp number with the customer `phone` (E.164)."""
    config = await context.active_config.get()
    if config is None:
        raise Conflict(
            "No WhatsApp number is connected: save a config (PUT /api/whatsapp-config) first.", code="not_configured"
        )
    async with context.transaction() as conn:
        business = await _business_user(conn, config.phone_number_id)
        customer = await _customer(conn, phone, name)
        if customer == business:
            raise Unprocessable(
                "That is the connected WhatsApp number itself.",
                details=[{"field": "customerPhoneNumber", "message": "the business's own number"}],
            )
        row = await (
            await conn.execute(
                'INSERT INTO conversations ("whatsappPhoneNumberId", "customerId", "isWindowOpen")'
                ' VALUES (%s, %s, false) ON CONFLICT ("whatsappPhoneNumberId", "customerId") DO NOTHING'
                " RETURNING id",
                (config.phone_number_id, customer),
            )
        ).fetchone()
        if row is None:
            found = await (
                await conn.execute(
                    'SELECT id FROM conversations WHERE "whatsappPhoneNumberId" = %s AND "customerId" = %s',
                    (config.phone_number_id, customer),
                )
            ).fetchone()
            assert found is not None
            return Opened(uuid.UUID(str(found[0])), created=False)
        conversation_id = uuid.UUID(str(row[0]))
        await conn.execute(
            'INSERT INTO conversation_participants ("conversationId", "userId") VALUES (%s, %s), (%s, %s)'
            " ON CONFLICT DO NOTHING",
            (conversation_id, customer, conversation_id, business),
        )
        snapshots = await conversation_snapshots(conn, [conversation_id])
    await context.publisher.publish([events.conversation_updated(s) for s in snapshots])
    return Opened(conversation_id, created=True)
