from __future__ import annotations

import httpx
import pytest

from tests.whatsapp.webhookkit import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN


@pytest.fixture
async def configured(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The API client, with the active WhatsApp config whose app secret signs `webhookkit`'s payloads."""
    response = await client.put("/api/whatsapp-config", json={
        "phoneNumberId": PHONE_NUMBER_ID, "businessAccountId": "102290129340398", "accessToken": "EAAtoken",
        "webhookVerifyToken": VERIFY_TOKEN, "appSecret": APP_SECRET})
    assert response.status_code == 200
    return client
