"""With the database unreachable: health says so, webhooks answer 5xx (Meta retries), the API answers 503."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest

from whatsapp_builder.app import create_app
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.settings import Settings


@pytest.fixture
async def down_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    context = AppContext.create(settings, "postgresql://postgres@127.0.0.1:1/nowhere")
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await context.close()


async def test_health_is_503(down_client: httpx.AsyncClient) -> None:
    response = await down_client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


async def test_webhook_is_5xx_so_meta_retries(down_client: httpx.AsyncClient) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    signature = "sha256=" + hmac.new(b"x", body, hashlib.sha256).hexdigest()
    response = await down_client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature})
    assert response.status_code == 503
    verify = await down_client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "v",
                                                                  "hub.challenge": "1"})
    assert verify.status_code == 503


async def test_api_is_503_not_500(down_client: httpx.AsyncClient) -> None:
    response = await down_client.get("/api/users", headers={"Authorization": "Bearer wab_something"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_an_exhausted_pool_is_503_not_500(settings: Settings, database_url: str) -> None:
    from sqlalchemy import text

    tight = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0, "db_connect_timeout_seconds": 0.2})
    context = AppContext.create(tight, database_url)
    try:
        transport = httpx.ASGITransport(app=create_app(context))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            context.engine.connect() as held,  # the only connection, held
        ):
            await held.execute(text("SELECT 1"))
            body = b'{"object": "whatsapp_business_account", "entry": []}'
            webhook = await client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": "sha256=00"})
            api = await client.get("/api/users", headers={"Authorization": "Bearer wab_x"})
        assert webhook.status_code == 503
        assert api.status_code == 503 and api.json()["error"]["code"] == "service_unavailable"
    finally:
        await context.close()


async def test_webhook_with_a_config_cached_before_the_outage_is_503(settings: Settings) -> None:
    import time

    from whatsapp_builder.whatsapp.config_service import ActiveConfig

    context = AppContext.create(settings, "postgresql://postgres@127.0.0.1:1/nowhere")
    config = ActiveConfig("106540352242922", "1", "token", "verify", "secret")

    async def cached() -> ActiveConfig:
        return config

    context.active_config.get = cached  # type: ignore[method-assign]
    body = (b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",'
            b' "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922",'
            b' "display_phone_number": "15550783881"}, "statuses": [{"id": "wamid.X", "status": "read",'
            b' "timestamp": "1700000000", "recipient_id": "1555"}]}}]}]}')
    signature = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    transport = httpx.ASGITransport(app=create_app(context))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            started = time.monotonic()
            response = await client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature})
            assert response.status_code == 503, response.text
            assert time.monotonic() - started < settings.db_connect_timeout_seconds + 3
    finally:
        await context.close()
