"""Settings of the Cloud API simulator."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SimulatorSettings(BaseModel):
    """Every knob of the simulator; passed to `create_simulator_app`."""

    model_config = ConfigDict(frozen=True)

    webhook_url: str = "http://127.0.0.1:8000/webhooks/whatsapp"
    app_secret: str = "demo-app-secret"
    access_token: str = "demo-access-token"
    phone_number_id: str = "100000000000001"
    display_phone_number: str = "15550001111"
    business_account_id: str = "200000000000001"
    status_delay_seconds: float = Field(default=0.0, ge=0)
    send_statuses: bool = True
    # Statuses waiting while a status webhook is in flight ride together in the next one (Meta batches too).
    status_batch_max: int = Field(default=200, ge=1, le=1000)
    status_posts_in_flight: int = Field(default=2, ge=1, le=64)
    auto_read: bool = True
    # Sends kept for `GET /_simulator/messages` (1.5 to 3 KB each); as many mark-as-read calls are kept.
    history_limit: int = Field(default=50_000, ge=1)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0)
    webhook_retry_base_seconds: float = Field(default=0.25, ge=0)
