"""Imports every model so that `Base.metadata` knows all tables (Alembic and tests rely on it)."""

from whatsapp_builder.auth.models import ApiToken
from whatsapp_builder.chatbots.models import Chatbot
from whatsapp_builder.conversations.models import (
    Conversation,
    ConversationContext,
    Message,
    SendWindow,
    StatusBacklog,
    conversation_participants,
)
from whatsapp_builder.db.base import Base
from whatsapp_builder.users.models import PreviousIdentity, User
from whatsapp_builder.whatsapp.models import WhatsAppConfig

__all__ = [
    "ApiToken",
    "Base",
    "Chatbot",
    "Conversation",
    "ConversationContext",
    "Message",
    "PreviousIdentity",
    "SendWindow",
    "StatusBacklog",
    "User",
    "WhatsAppConfig",
    "conversation_participants",
]
