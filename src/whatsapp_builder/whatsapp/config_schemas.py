from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from whatsapp_builder.core.schemas import CamelInput, CamelModel, storable_text


def _graph_api_url(value: str | None) -> str | None:
    """A URL the Graph API client can call: http(s), a host, and a port if one is written."""
    if value is None:
        return None
    if not value.isascii() or not value.isprintable():
        # An invisible character (a zero-width space pasted with the URL) made every send fail with a codec error.
        raise ValueError("must be plain ASCII: write an international domain name in its xn-- (punycode) form")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if not parts.hostname:
        raise ValueError("the URL has no host")
    return value


def _meta_id(value: str) -> str:
    # Meta's ids are numbers; this one becomes a path segment of every Graph API call (a "../x?" would send the
    # access token to another endpoint).
    if not value.isascii() or not value.isdigit():
        raise ValueError("must be the numeric id Meta shows (WhatsApp Manager, API Setup)")
    return value


def _sendable_token(value: str | None) -> str | None:
    # It travels in an Authorization header: a space, a line break or a non-ASCII letter is no token, and every
    # send would fail on it.
    if value is not None and not all("!" <= ch <= "~" for ch in value):
        raise ValueError("must be the token as Meta shows it: letters, digits and symbols, no spaces")
    return value


def _app_secret(value: str | None) -> str | None:
    # Every webhook's signature is checked against it byte for byte: a secret pasted with a line break or a space
    # was stored as given, and then every delivery was refused with a 403.
    if value is not None and not all("!" <= ch <= "~" for ch in value):
        raise ValueError("must be the app secret as Meta shows it (App settings, Basic): letters and digits, no spaces")
    return value


def _verify_token(value: str) -> str:
    # Meta sends it back in the handshake's query string exactly as entered there: spaces around it or a control
    # character are a paste gone wrong, and the handshake would fail on them.
    if value != value.strip() or not value.isprintable():
        raise ValueError("must not start or end with spaces, nor hold line breaks or other control characters")
    return value


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be only spaces")
    return value


MetaId = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_meta_id)]


class WhatsAppConfigPut(CamelInput):
    phone_number_id: MetaId
    business_account_id: MetaId
    access_token: Annotated[str | None, Field(min_length=1, max_length=4096), AfterValidator(_sendable_token)] = Field(
        default=None,
        description="Write-only. Omit to keep the token already stored for this phone number id.",
    )
    webhook_verify_token: Annotated[
        str,
        Field(min_length=1, max_length=255),
        AfterValidator(_not_blank),
        AfterValidator(storable_text),
        AfterValidator(_verify_token),
    ]
    app_secret: Annotated[str | None, Field(min_length=1, max_length=1024), AfterValidator(_app_secret)] = Field(
        default=None,
        description="Write-only. Omit to keep the secret already stored for this phone number id.",
    )
    graph_api_url: Annotated[
        str | None,
        Field(max_length=500, pattern=r"^https?://\S+$"),
        AfterValidator(storable_text),
        AfterValidator(_graph_api_url),
    ] = Field(
        default=None,
        description="Where this number's Graph API calls go; null uses GRAPH_API_URL (the demo uses the simulator). "
        "Omitted on an update of the same number: kept.",
    )
    messages_per_second: Annotated[int | None, Field(ge=1, le=10_000, strict=True)] = Field(
        default=None,
        description="This number's sending limit (Meta's throughput tier: 80 to start, up to 1,000); null uses the "
        "server's WAB_SEND_RATE_PER_SECOND. Omitted on an update of the same number: kept.",
    )


class WhatsAppConfigOut(CamelModel):
    id: uuid.UUID
    phone_number_id: str
    business_account_id: str
    access_token: str | None = Field(description="Always masked")
    webhook_verify_token: str
    app_secret: str | None = Field(description="Always masked")
    graph_api_url: str | None
    messages_per_second: int | None = Field(description="Null: the server's default (WAB_SEND_RATE_PER_SECOND)")
    last_error: dict[str, Any] | None = Field(description="Set when WhatsApp rejected the credentials")
    last_webhook_refusal: dict[str, Any] | None = Field(
        default=None,
        description="The last webhook delivery refused because its X-Hub-Signature-256 did not match the app secret"
        ' (`{"reason": "signature_mismatch", "message", "at"}`): the app secret saved here is not the Meta'
        " app's. Cleared by the next delivery that verifies, and by saving an app secret.",
    )
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
