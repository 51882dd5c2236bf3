"""Every knob of the service, read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DataDirUnusable(RuntimeError):
    """The data folder (or the secret key in it) cannot be made, read or written: a setting to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db; unset starts an embedded PostgreSQL in the data folder.",
    )
    data_dir: Path = Field(default=Path("data"), validation_alias="WAB_DATA_DIR")
    secret_key: str | None = Field(default=None, validation_alias="WAB_SECRET_KEY")
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v23.0"
    redis_url: str | None = Field(
        default=None, description="redis://host:port/db (or rediss://, unix://): events reach every server process."
    )
    log_level: str = Field(default="INFO", validation_alias="WAB_LOG_LEVEL")
    log_json: bool = Field(default=False, validation_alias="WAB_LOG_JSON")

    # Connection pool. The seed says max 10 (pg-pool keeps idle connections 30 s); SQLAlchemy closes an overflow
    # connection as soon as it is returned, so a pool smaller than the load churns connections (a fork per connect
    # on the server): 20 kept, 10 more under bursts.
    db_pool_size: int = Field(default=20, ge=1, le=500, validation_alias="WAB_DB_POOL_SIZE")
    db_max_overflow: int = Field(default=10, ge=0, le=500, validation_alias="WAB_DB_MAX_OVERFLOW")
    # Plain psycopg pool of the hot paths (webhooks, flow steps, deliveries), kept open.
    db_hot_pool_size: int = Field(default=12, ge=1, le=500, validation_alias="WAB_DB_HOT_POOL_SIZE")
    db_idle_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="WAB_DB_IDLE_TIMEOUT")
    db_connect_timeout_seconds: float = Field(default=2.0, gt=0, validation_alias="WAB_DB_CONNECT_TIMEOUT")

    webhook_max_body_bytes: int = Field(default=3 * 1024 * 1024, ge=1024, validation_alias="WAB_WEBHOOK_MAX_BODY")
    # Webhook POSTs arriving while one is written share the next transaction, up to this many.
    webhook_group_max: int = Field(default=200, ge=1, le=5000, validation_alias="WAB_WEBHOOK_GROUP_MAX")
    # A delivery not stored within this many seconds is answered 503 (Meta delivers it again), so a database
    # that stops answering holds no POST open for good. The write goes on: a later redelivery stores nothing twice.
    webhook_deadline_seconds: float = Field(default=10.0, gt=0, le=300, validation_alias="WAB_WEBHOOK_DEADLINE")
    # How often each server process looks again at the tokens its Socket.IO clients connected with, and closes
    # the connections of revoked ones (a revoke through this process's API closes its own at once).
    realtime_token_check_seconds: float = Field(
        default=10.0, gt=0, le=3600, validation_alias="WAB_REALTIME_TOKEN_CHECK_SECONDS"
    )
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, validation_alias="WAB_API_MAX_BODY")

    graph_api_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="WAB_GRAPH_API_TIMEOUT")
    worker_concurrency: int = Field(default=16, ge=1, le=500, validation_alias="WAB_WORKER_CONCURRENCY")
    send_max_attempts: int = Field(default=8, ge=1, le=50, validation_alias="WAB_SEND_MAX_ATTEMPTS")
    send_retry_base_seconds: float = Field(default=1.0, gt=0, le=60, validation_alias="WAB_SEND_RETRY_BASE")
    fast_path_grace_seconds: float = Field(default=2.0, ge=0, le=300, validation_alias="WAB_FAST_PATH_GRACE")
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60, validation_alias="WAB_WORKER_POLL_SECONDS")
    flow_max_steps: int = Field(default=50, ge=1, le=1000, validation_alias="WAB_FLOW_MAX_STEPS")
    flow_http_allow_private: bool = Field(default=False, validation_alias="WAB_FLOW_HTTP_ALLOW_PRIVATE")
    send_rate_per_second: int = Field(default=80, ge=1, le=10_000, validation_alias="WAB_SEND_RATE_PER_SECOND")
    mark_read: bool = Field(default=True, validation_alias="WAB_MARK_READ")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """Checked at start: a typo would otherwise start a server whose events reach no other process, with
        only a log line every few seconds to say so."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
            raise ValueError("REDIS_URL must be a redis://host:port/db URL (or rediss://, unix://)")
        return value.strip()

    @cached_property
    def resolved_data_dir(self) -> Path:
        path = self.data_dir.expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirUnusable(
                f"the data folder {path} cannot be made ({exc.strerror or exc}): set WAB_DATA_DIR to a folder "
                "this user can write"
            ) from exc
        return path

    def resolved_secret_key(self) -> str:
        """The key that encrypts secrets at rest; generated into the data folder on first use when unset."""
        if self.secret_key:
            return self.secret_key
        key_file = self.resolved_data_dir / "secret.key"
        try:
            if key_file.exists():
                return key_file.read_text().strip()
            key = secrets.token_urlsafe(32)
            key_file.touch(mode=0o600)
            key_file.write_text(key)
        except OSError as exc:
            raise DataDirUnusable(
                f"the secret key {key_file} cannot be read or made ({exc.strerror or exc}): set WAB_SECRET_KEY, or "
                "WAB_DATA_DIR to a folder this user can write"
            ) from exc
        return key
