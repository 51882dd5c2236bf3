"""`conversation:deleted`: the inbox hears of a conversation that is gone, deleted or merged into another."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.whatsapp.test_customer_identity import ALICE, PHONE, message, payload
from tests.whatsapp.webhookkit import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, sign

from .rtkit import Client, RealtimeServer


async def _until(client: Client, name: str) -> tuple[list[tuple[str, Any]], Any]:
    """The events up to the first called `name` (other events, such as new messages, may come first)."""
    seen: list[tuple[str, Any]] = []
    while True:
        try:
            event, data = await client.next_event()
        except TimeoutError:
            raise AssertionError(f"no {name}; seen {seen}") from None
        seen.append((event, data))
        if event == name:
            return seen, data


async def test_a_merged_conversation_is_announced_with_where_it_went(
    realtime_server: RealtimeServer, make_client: Any, api_token: str
) -> None:
    async with httpx.AsyncClient(base_url=realtime_server.url, headers={"Authorization": f"Bearer {api_token}"}) as api:
        config = await api.put("/api/whatsapp-config", json={
            "phoneNumberId": PHONE_NUMBER_ID, "businessAccountId": "102290129340398", "accessToken": "EAAtoken",
            "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET})
        assert config.status_code == 200

        async def deliver(body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            response = await api.post("/webhooks/whatsapp", content=raw, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)})
            assert response.status_code == 200, response.text

        now = int(time.time())
        # The same person twice: by phone number (from before BSUIDs), then by BSUID only. Two conversations.
        await deliver(payload(message("wamid.M1", "by phone", phone=PHONE, ts=now - 60)))
        await deliver(payload(message("wamid.M2", "by bsuid", bsuid=ALICE, ts=now - 30)))
        listed = (await api.get("/api/conversations")).json()["items"]
        by_phone = next(c["id"] for c in listed if c["customerPhone"] == "+" + PHONE)
        by_bsuid = next(c["id"] for c in listed if c["id"] != by_phone)

        watcher = await make_client(realtime_server.url, {"token": api_token})
        # Both identities in one message link them: the BSUID's conversation is merged into the phone's.
        await deliver(payload(message("wamid.M3", "both", phone=PHONE, bsuid=ALICE, ts=now)))
        _, gone = await _until(watcher, "conversation:deleted")
        assert gone == {"id": by_bsuid, "mergedInto": by_phone}
        _, remaining = await _until(watcher, "conversation:updated")
        assert remaining["id"] == by_phone and remaining["lastMessage"] == "both"
        assert [c["id"] for c in (await api.get("/api/conversations")).json()["items"]] == [by_phone]

        # Deleting one through the API is announced too, with nowhere it went.
        assert (await api.delete(f"/api/conversations/{by_phone}")).status_code == 204
        _, deleted = await _until(watcher, "conversation:deleted")
        assert deleted == {"id": by_phone, "mergedInto": None}


async def test_a_conversation_created_between_users_is_announced(
    realtime_server: RealtimeServer, make_client: Any, api_token: str
) -> None:
    async with httpx.AsyncClient(base_url=realtime_server.url, headers={"Authorization": f"Bearer {api_token}"}) as api:
        users = [(await api.post("/api/users", json={"phoneNumber": phone, "name": name})).json()["id"]
                 for phone, name in (("+14155550181", "Ann"), ("+14155550182", "Ben"))]
        watcher = await make_client(realtime_server.url, {"token": api_token})
        created = await api.post("/api/conversations", json={"participantIds": users})
        assert created.status_code == 201, created.text
        _, announced = await _until(watcher, "conversation:updated")
        listed = (await api.get("/api/conversations")).json()["items"]
        assert announced == next(c for c in listed if c["id"] == created.json()["id"])


async def test_a_window_that_closes_with_time_is_announced_once(
    realtime_server: RealtimeServer, make_client: Any, api_token: str, database_url: str
) -> None:
    """Nothing changes when 24 hours pass, so the minute's maintenance job announces the windows that closed in
    the minute before it (each by exactly one run), and REST and the inbox agree."""
    import datetime as dt

    import psycopg

    from whatsapp_builder.conversations.window_closing import announce_closed_windows

    async with httpx.AsyncClient(base_url=realtime_server.url, headers={"Authorization": f"Bearer {api_token}"}) as api:
        assert (await api.put("/api/whatsapp-config", json={
            "phoneNumberId": PHONE_NUMBER_ID, "businessAccountId": "1", "accessToken": "EAAtoken",
            "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET})).status_code == 200
        raw = json.dumps(payload(message("wamid.W1", "hello", phone=PHONE, ts=int(time.time())))).encode()
        assert (await api.post("/webhooks/whatsapp", content=raw, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)})).status_code == 200
        [conversation] = (await api.get("/api/conversations")).json()["items"]
        assert conversation["isWindowOpen"] is True
        run = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with psycopg.connect(database_url, autocommit=True) as conn:  # its customer wrote 24 h 30 s before the run
            conn.execute('UPDATE conversations SET "lastCustomerMessageAt" = %s WHERE id = %s',
                         (run - dt.timedelta(hours=24, seconds=30), conversation["id"]))

        watcher = await make_client(realtime_server.url, {"token": api_token})
        context = realtime_server.context
        assert await announce_closed_windows(context, run - dt.timedelta(minutes=2), run - dt.timedelta(minutes=1)) == []
        assert [str(c) for c in await announce_closed_windows(context, run - dt.timedelta(minutes=1), run)] == [
            conversation["id"]]
        _, closed = await _until(watcher, "conversation:updated")
        assert closed["id"] == conversation["id"] and closed["isWindowOpen"] is False
        def parsed(value: str) -> dt.datetime:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))

        assert parsed(closed["updatedAt"]) > parsed(conversation["updatedAt"])
        assert (await api.get(f"/api/conversations/{conversation['id']}")).json()["isWindowOpen"] is False
        assert await announce_closed_windows(context, run, run + dt.timedelta(minutes=1)) == []  # the next run
