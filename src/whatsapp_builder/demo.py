"""`whatsapp-builder demo`: the demo WhatsApp config (pointing at the local simulator) and the demo chatbot.

Safe to run twice: an existing active config and an existing demo chatbot are left as they are, except that the
demo config (the demo's phone number id) is pointed at a simulator URL given explicitly, should it have moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select

from whatsapp_builder.chatbots.models import Chatbot
from whatsapp_builder.chatbots.schemas import ChatbotExport
from whatsapp_builder.chatbots.service import import_chatbot
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.whatsapp.config_schemas import WhatsAppConfigPut
from whatsapp_builder.whatsapp.config_service import get_active, put_active
from whatsapp_builder.whatsapp.models import WhatsAppConfig

DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_BUSINESS_ACCOUNT_ID = "100000000000002"
DEMO_ACCESS_TOKEN = "demo-access-token"
DEMO_APP_SECRET = "demo-app-secret"
DEMO_VERIFY_TOKEN = "demo-verify-token"
# The simulator has no throughput limit, and the demo bot answers "hi" with two messages: at Meta's starting
# tier (80 a second) the demo would stall at 40 customers a second, far below what the server can do.
DEMO_MESSAGES_PER_SECOND = 10_000


@dataclass(frozen=True)
class DemoResult:
    config_created: bool
    config_moved: bool
    chatbot_id: str
    chatbot_created: bool
    # The number connected now, when it is not the demo's (a real number: the demo cannot be talked to).
    other_number: str | None = None


def load_demo_chatbot() -> dict[str, Any]:
    """examples/demo-chatbot.json: shipped in the wheel, read from the source tree in a checkout."""
    packaged = resources.files("whatsapp_builder") / "examples" / "demo-chatbot.json"
    if packaged.is_file():
        return dict(json.loads(packaged.read_text(encoding="utf-8")))
    source = Path(__file__).resolve().parents[2] / "examples" / "demo-chatbot.json"
    return dict(json.loads(source.read_text(encoding="utf-8")))


DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8081"


def _is_demo(context: AppContext, current: WhatsAppConfig, wanted: WhatsAppConfigPut) -> bool:
    """Whether the stored config is the demo's as `wanted` has it (URL, verify token and both secrets)."""

    def plain(secret: str | None) -> str | None:
        try:
            return context.secrets.decrypt(secret) if secret else None
        except Exception:  # stored under another secret key: not readable, so not the demo's
            return None

    return (
        current.graph_api_url == wanted.graph_api_url
        and current.webhook_verify_token == wanted.webhook_verify_token
        and plain(current.access_token) == wanted.access_token
        and plain(current.app_secret) == wanted.app_secret
    )


async def install_demo(context: AppContext, simulator_url: str, *, moved: bool = False) -> DemoResult:
    """The demo config (pointing at `simulator_url`) and chatbot, if absent. With `moved` (the URL was given,
    not defaulted), an existing demo config is pointed at `simulator_url` too."""
    wanted = WhatsAppConfigPut(
        phone_number_id=DEMO_PHONE_NUMBER_ID,
        business_account_id=DEMO_BUSINESS_ACCOUNT_ID,
        access_token=DEMO_ACCESS_TOKEN,
        webhook_verify_token=DEMO_VERIFY_TOKEN,
        app_secret=DEMO_APP_SECRET,
        graph_api_url=simulator_url,
    )
    async with context.sessions() as session:
        config_created = config_moved = False
        current = await get_active(session)
        other_number = (
            None if current is None or current.phone_number_id == DEMO_PHONE_NUMBER_ID else (current.phone_number_id)
        )
        if current is None:
            fresh = wanted.model_copy(update={"messages_per_second": DEMO_MESSAGES_PER_SECOND})
            await put_active(session, context.secrets, fresh)
            config_created = True
        elif moved and current.phone_number_id == DEMO_PHONE_NUMBER_ID and not _is_demo(context, current, wanted):
            # The demo config follows the simulator (`make run SIMULATOR_PORT=…`) and gets back the simulator's
            # credentials if they were edited (the demo number works with no others); a real number's is left alone.
            await put_active(session, context.secrets, wanted)
            config_moved = True
        data = ChatbotExport.model_validate(load_demo_chatbot())
        existing = (
            (await session.execute(select(Chatbot).where(Chatbot.name == data.name).order_by(Chatbot.created_at)))
            .scalars()
            .first()
        )
        if existing is not None:
            return DemoResult(config_created, config_moved, str(existing.id), False, other_number)
        chatbot, _ = await import_chatbot(session, data, activate=True)
        return DemoResult(config_created, config_moved, str(chatbot.id), True, other_number)
