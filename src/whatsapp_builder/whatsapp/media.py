"""A customer's photo, voice note, video, document or sticker, fetched from WhatsApp for the inbox.

A media message arrives with WhatsApp's media id only. Its bytes stay at WhatsApp (for 30 days): the Graph API
gives a download URL for the id (`GET /{version}/{media-id}`), valid for 5 minutes and only with the access
token, so a browser cannot load it itself. The server fetches it with the active config's token and passes the
bytes through, without storing them.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.conversations.models import Message
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.core.errors import AppError, NotFound
from whatsapp_builder.logging import get_logger
from whatsapp_builder.whatsapp.delivery import graph_client_for
from whatsapp_builder.whatsapp.graph_client import GraphApiError

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
# WhatsApp's largest media (a document): anything bigger is not a WhatsApp medium.
MAX_MEDIA_BYTES = 100 * 1024 * 1024
# Shown in the page (an <img>, <audio>, <video>); anything else, SVG and HTML included, is only downloaded, so that
# a customer's file can never run as a page of this app.
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "audio/ogg", "audio/mpeg", "audio/aac", "audio/mp4"}
    | {"audio/amr", "video/mp4", "video/3gpp"}
)
# Graph API codes for a media id that is not there (any more): WhatsApp keeps media 30 days.
_GONE_CODES = frozenset({100, 131052})
# WhatsApp's media ids are numbers (1013859600285441).
_MEDIA_ID = re.compile(r"[0-9]{1,64}")
# Where WhatsApp's download URLs point (lookaside.fbsbx.com). The access token goes with the download, so only to
# these, over https, or to the Graph API's own origin (the configured one: the simulator's, say).
_MEDIA_HOSTS = ("fbsbx.com", "facebook.com", "fbcdn.net", "whatsapp.net")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
# However slowly the bytes come, a download ends within this (a video of 100 MB at a few MB/s).
DOWNLOAD_SECONDS = 300.0

log = get_logger(__name__)


class MediaUnavailable(AppError):
    """WhatsApp did not give the media (an expired token, an outage): a gateway error, not the client's."""

    status_code = 502
    code = "media_unavailable"


@dataclass
class MediaDownload:
    """An open download: iterate `chunks()`, then `close()` (also when not iterated)."""

    response: httpx.Response
    content_type: str
    length: int | None
    filename: str | None

    async def chunks(self) -> AsyncIterator[bytes]:
        # Once the headers are gone, a problem can only cut the file short (the browser sees a broken file).
        sent = 0
        deadline = time.monotonic() + DOWNLOAD_SECONDS
        try:
            async for chunk in self.response.aiter_bytes():
                sent += len(chunk)
                if sent > MAX_MEDIA_BYTES or time.monotonic() > deadline:
                    log.info("media download cut short", bytes=sent, over_size=sent > MAX_MEDIA_BYTES)
                    break
                yield chunk
        except httpx.HTTPError as exc:
            log.info("media download broke off", bytes=sent, error=type(exc).__name__)
        finally:
            await self.response.aclose()

    async def close(self) -> None:
        await self.response.aclose()

    @property
    def inline(self) -> bool:
        return self.content_type in INLINE_TYPES


async def media_id_of(session: AsyncSession, conversation_id: uuid.UUID, message_id: uuid.UUID) -> tuple[str, Any]:
    """The WhatsApp media id of a message of this conversation, and its stored content."""
    row = (
        await session.execute(
            select(Message.type, Message.content).where(
                Message.id == message_id, Message.conversation_id == conversation_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such message in this conversation.")
    kind = getattr(row[0], "value", row[0])
    content = row[1] if isinstance(row[1], dict) else {}
    media_id = content.get("id")
    if kind not in MEDIA_TYPES or not isinstance(media_id, str) or not _MEDIA_ID.fullmatch(media_id):
        where = " (sent by link: its content.url is where it is)" if isinstance(content.get("url"), str) else ""
        raise NotFound(f"This message has no WhatsApp media id{where}.", code="no_media")
    return media_id, content


async def open_media(context: AppContext, media_id: str, content: dict[str, Any]) -> MediaDownload:
    """Ask WhatsApp where the media is, and start downloading it."""
    config = await context.active_config.get()
    if config is None:
        raise NotFound("No WhatsApp config is set to fetch media with; PUT /api/whatsapp-config first.")
    graph_api_url = config.graph_api_url or context.settings.graph_api_url
    try:
        info = await graph_client_for(context, config.graph_api_url).media(media_id, config.access_token)
    except GraphApiError as exc:
        if exc.code in _GONE_CODES or exc.http_status == 404:
            raise NotFound(
                f"WhatsApp no longer has this media ({exc.title or exc.message}): it keeps media 30 days.",
                code="media_gone",
            ) from exc
        raise MediaUnavailable(f"WhatsApp did not give the media: {exc.title or exc.message}") from exc
    url = info.get("url")
    if not isinstance(url, str) or not _trusted(url, graph_api_url):
        raise MediaUnavailable("WhatsApp's answer named no download URL this server sends the access token to.")
    size = info.get("file_size")
    if isinstance(size, int) and size > MAX_MEDIA_BYTES:
        raise MediaUnavailable(f"The media is {size} bytes, over the {MAX_MEDIA_BYTES} this server passes on.")
    try:
        request = context.http.build_request(
            "GET",
            url,
            # Identity: the bytes are passed on as they come, with their length.
            headers={"Authorization": f"Bearer {config.access_token}", "Accept-Encoding": "identity"},
        )
        response = await context.http.send(request, stream=True)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise MediaUnavailable(f"The media could not be downloaded: {type(exc).__name__}") from exc
    if response.status_code != 200:
        await response.aclose()
        raise MediaUnavailable(f"The media could not be downloaded: WhatsApp answered {response.status_code}.")
    content_type = next(
        (
            kind
            for mime in (info.get("mime_type"), response.headers.get("content-type"), content.get("mimeType"))
            if isinstance(mime, str) and _MIME.fullmatch(kind := mime.split(";")[0].strip().lower())
        ),
        "application/octet-stream",
    )
    length_header = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    length = int(length_header) if length_header and length_header.isdigit() and not encoded else None
    if length is not None and length > MAX_MEDIA_BYTES:
        await response.aclose()
        raise MediaUnavailable(f"The media is {length} bytes, over the {MAX_MEDIA_BYTES} this server passes on.")
    filename = content.get("filename")
    return MediaDownload(response, content_type, length, filename if isinstance(filename, str) else None)


def _trusted(url: str, graph_api_url: str) -> bool:
    """Whether the access token may go to this download URL: WhatsApp's own hosts over https, or the Graph API's
    origin (the one configured, which gets the token anyway)."""
    try:
        target, graph = urlsplit(url), urlsplit(graph_api_url)
        port, graph_port = target.port, graph.port
    except ValueError:
        return False
    host = (target.hostname or "").lower()
    if target.scheme == graph.scheme and host == (graph.hostname or "").lower() and port == graph_port:
        return True
    return (
        target.scheme == "https"
        and port in (None, 443)
        and any(host == h or host.endswith("." + h) for h in _MEDIA_HOSTS)
    )
