"""start, message, handoff and end nodes."""

from __future__ import annotations

from typing import Any, cast

from whatsapp_builder.flows.graph import FlowNode
from whatsapp_builder.flows.nodes.base import Finish, Follow, NodeHandler, Outcome, TurnContext
from whatsapp_builder.flows.types import MEDIA_TYPES, OutgoingMessage
from whatsapp_builder.logging import get_logger

log = get_logger(__name__)

CAPTION_LIMIT = 1024
URL_LIMIT = 2048
CAPTION_TYPES = ("image", "video", "document")


async def enter_start(ctx: TurnContext, node: FlowNode) -> Outcome:
    return Follow()


def media_message(ctx: TurnContext, media: dict[str, Any]) -> OutgoingMessage | None:
    kind = media.get("type")
    url = ctx.render(media.get("url")).strip()
    if kind not in MEDIA_TYPES or not url:
        ctx.log.append("media skipped: no type or empty URL after rendering")
        return None
    if len(url) > URL_LIMIT:
        # Unlike a text, a cut URL points somewhere else: the media is not sent (the text, if any, still is).
        ctx.log.append(f"media skipped: URL is {len(url)} characters after rendering (limit {URL_LIMIT})")
        log.warning("flow media skipped: URL too long after rendering", length=len(url), limit=URL_LIMIT)
        return None
    content: dict[str, Any] = {"url": url}
    caption = ctx.render(media.get("caption"), CAPTION_LIMIT)
    if caption.strip() and kind in CAPTION_TYPES:
        content["caption"] = caption
    filename = media.get("filename")
    if isinstance(filename, str) and filename.strip() and kind == "document":
        content["filename"] = ctx.render(filename, 240)
    return OutgoingMessage(str(kind), content)


async def enter_message(ctx: TurnContext, node: FlowNode) -> Outcome:
    ctx.send_text(node.data.get("text"))
    media = node.data.get("media")
    if isinstance(media, dict):
        message = media_message(ctx, cast(dict[str, Any], media))
        if message is not None:
            ctx.send(message)
    return Follow()


async def enter_handoff(ctx: TurnContext, node: FlowNode) -> Outcome:
    ctx.send_text(node.data.get("text"))
    return Finish("handoff")


async def enter_end(ctx: TurnContext, node: FlowNode) -> Outcome:
    ctx.send_text(node.data.get("text"))
    return Finish("completed")


START = NodeHandler(enter_start)
MESSAGE = NodeHandler(enter_message)
HANDOFF = NodeHandler(enter_handoff)
END = NodeHandler(enter_end)
