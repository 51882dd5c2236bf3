"""An offline stand-in for Meta's WhatsApp Cloud API (send endpoint, status and inbound webhooks)."""

from whatsapp_builder.simulator.app import SimulatorState, create_simulator_app
from whatsapp_builder.simulator.payloads import build_inbound_webhook, build_status_webhook
from whatsapp_builder.simulator.settings import SimulatorSettings

__all__ = [
    "SimulatorSettings",
    "SimulatorState",
    "build_inbound_webhook",
    "build_status_webhook",
    "create_simulator_app",
]
