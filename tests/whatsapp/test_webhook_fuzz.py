"""Mutated, signed Meta payloads through the real endpoint and database: never a 5xx, never a traceback."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import time
from typing import Any

import httpx
import pytest

APP_SECRET = "fuzz-secret"

ODD_VALUES: list[Any] = [None, 0, -1, 2**63, 1.5e308, "", " ", "\u0000", "x" * 5000, "wamid." + "y" * 400, [], {},
                         [1, "a"], {"a": {"b": None}}, True, "16505551234", "9" * 40, "US." + "z" * 300,
                         "2026-01-01", "-999999999999", "\ud83d\ude00" * 50]


def _templates() -> list[dict[str, Any]]:
    ts = str(int(time.time()))
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Kerry", "username": "@k"}, "wa_id": "16505551234", "user_id": "US.1"}],
        "messages": [
            {"from": "16505551234", "id": "wamid.A", "timestamp": ts, "type": "text", "text": {"body": "hi"},
             "context": {"from": "15550783881", "id": "wamid.Z"}},
            {"from": "16505551234", "id": "wamid.B", "timestamp": ts, "type": "interactive",
             "interactive": {"type": "list_reply", "list_reply": {"id": "r", "title": "R", "description": "d"}}},
            {"from": "16505551234", "id": "wamid.C", "timestamp": ts, "type": "image",
             "image": {"id": "1", "mime_type": "image/jpeg", "sha256": "s", "caption": "c"}},
        ],
        "statuses": [{"id": "wamid.S", "status": "failed", "timestamp": ts, "recipient_id": "16505551234",
                      "errors": [{"code": 131026, "title": "t", "error_data": {"details": "d"}}]}],
    }
    return [{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
                                                                                       "value": value}]}]}]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


def _mutate(payload: dict[str, Any], rng: random.Random) -> Any:
    mutated = copy.deepcopy(payload)
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(mutated) if p]
        if not paths:
            return rng.choice(ODD_VALUES)
        path = rng.choice(paths)
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        value = rng.choice(ODD_VALUES)
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(value)
    return mutated


@pytest.mark.parametrize("seed", range(6))
async def test_mutated_payloads_never_break_the_webhook(client: httpx.AsyncClient, seed: int) -> None:
    await client.put("/api/whatsapp-config", json={
        "phoneNumberId": "106540352242922", "businessAccountId": "1", "accessToken": "t",
        "webhookVerifyToken": "v", "appSecret": APP_SECRET})
    rng = random.Random(seed)
    template = _templates()[0]
    for round_ in range(40):
        payload = _mutate(template, rng)
        # Fresh ids so that most mutations are stored rather than deduplicated.
        body = json.dumps(payload).replace("wamid.", f"wamid.{seed}-{round_}-").encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = await client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature})
        assert response.status_code in (200, 400), (response.status_code, response.text, body[:500])
