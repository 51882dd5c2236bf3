"""The one active WhatsApp config. Secrets are encrypted before they reach the database."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic.alias_generators import to_camel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.core.crypto import MASKED, SecretBox, mask
from whatsapp_builder.core.errors import NotFound, Unprocessable
from whatsapp_builder.whatsapp.config_schemas import WhatsAppConfigOut, WhatsAppConfigPut
from whatsapp_builder.whatsapp.models import WhatsAppConfig


@dataclass(frozen=True)
class ActiveConfig:
    """The active config with its secrets decrypted, for the webhook and the Graph API client only."""

    phone_number_id: str
    business_account_id: str
    access_token: str
    webhook_verify_token: str
    app_secret: str | None
    graph_api_url: str | None = None
    messages_per_second: int | None = None
    """This number's sending limit; None: the server's default."""
    has_error: bool = False
    """Whether `lastError` is set: the next successful send clears it."""
    webhooks_refused: bool = False
    """Whether `lastWebhookRefusal` is set: the next delivery that verifies clears it."""

    def send_rate(self, default: int) -> int:
        """Sends a second this number may make: its own limit, else the server's `default`."""
        return self.messages_per_second or default


def to_out(config: WhatsAppConfig) -> WhatsAppConfigOut:
    return WhatsAppConfigOut(
        id=config.id,
        phone_number_id=config.phone_number_id,
        business_account_id=config.business_account_id,
        access_token=mask(config.access_token),
        webhook_verify_token=config.webhook_verify_token,
        app_secret=mask(config.app_secret),
        graph_api_url=config.graph_api_url,
        messages_per_second=config.messages_per_second,
        last_error=config.last_error,
        last_webhook_refusal=config.last_webhook_refusal,
        is_active=config.is_active,
        created_at=config.created_at,
        updated_at=config.updated_at,
    )


async def get_active(session: AsyncSession) -> WhatsAppConfig | None:
    result = await session.execute(select(WhatsAppConfig).where(WhatsAppConfig.is_active.is_(True)))
    return result.scalar_one_or_none()


async def require_active(session: AsyncSession) -> WhatsAppConfig:
    config = await get_active(session)
    if config is None:
        raise NotFound("No WhatsApp config is set; PUT /api/whatsapp-config first.")
    return config


async def load_active(session: AsyncSession, secrets: SecretBox) -> ActiveConfig | None:
    config = await get_active(session)
    if config is None:
        return None
    return ActiveConfig(
        phone_number_id=config.phone_number_id,
        business_account_id=config.business_account_id,
        access_token=secrets.decrypt(config.access_token),
        webhook_verify_token=config.webhook_verify_token,
        app_secret=secrets.decrypt(config.app_secret) if config.app_secret else None,
        graph_api_url=config.graph_api_url,
        messages_per_second=config.messages_per_second,
        has_error=config.last_error is not None,
        webhooks_refused=config.last_webhook_refusal is not None,
    )


async def unreadable_secrets(session: AsyncSession, secrets: SecretBox) -> str | None:
    """Why the active config's secrets cannot be read with this process's key (None when they can, or when there
    is no config): it was saved by a process with another WAB_SECRET_KEY."""
    try:
        await load_active(session, secrets)
    except ValueError as exc:
        return str(exc)
    return None


async def put_active(session: AsyncSession, secrets: SecretBox, data: WhatsAppConfigPut) -> WhatsAppConfig:
    """Make `data` the one active config: update it in place for the same number, else replace the old one."""
    current = await get_active(session)
    same_number = current is not None and current.phone_number_id == data.phone_number_id
    # The mask GET shows, sent back (a GET edited and PUT whole): the secret stored for this number, unchanged.
    # Stored as it came, it replaced the real secret, and every webhook then failed its signature check.
    masked = [name for name in ("access_token", "app_secret") if getattr(data, name) == MASKED]
    if masked and not same_number:
        raise Unprocessable(
            "A new phone number needs its real secrets, not the mask the API shows.",
            details=[{"field": to_camel(name), "message": "is the mask '********', not a secret"} for name in masked],
        )
    data = data.model_copy(update={name: None for name in masked})
    if same_number:
        assert current is not None
        config = current
    else:
        if data.access_token is None:
            raise Unprocessable(
                "accessToken is required for a new phone number.",
                details=[{"field": "accessToken", "message": "required for a new phone number id"}],
            )
        await session.execute(update(WhatsAppConfig).where(WhatsAppConfig.is_active.is_(True)).values(is_active=False))
        config = WhatsAppConfig(is_active=True, access_token="")
        session.add(config)
    config.phone_number_id = data.phone_number_id
    config.business_account_id = data.business_account_id
    config.webhook_verify_token = data.webhook_verify_token
    if "graph_api_url" in data.model_fields_set or config is not current:
        # Like the secrets: an update of the same number keeps its Graph API address unless it names one.
        config.graph_api_url = data.graph_api_url
    if "messages_per_second" in data.model_fields_set or config is not current:
        config.messages_per_second = data.messages_per_second
    config.last_error = None
    if data.access_token is not None:
        config.access_token = secrets.encrypt(data.access_token)
    if data.app_secret is not None:
        config.app_secret = secrets.encrypt(data.app_secret)
    if data.app_secret is not None or config is not current:
        config.last_webhook_refusal = None  # refused with another secret
    await session.commit()
    await session.refresh(config)
    return config


async def delete_active(session: AsyncSession) -> None:
    result = await session.execute(
        delete(WhatsAppConfig).where(WhatsAppConfig.is_active.is_(True)).returning(WhatsAppConfig.id)
    )
    if result.first() is None:
        raise NotFound("No WhatsApp config is set.")
    await session.commit()
