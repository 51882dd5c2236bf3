"""A cap on request bodies, checked as bytes arrive, so an oversized body is refused without being buffered."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, cap: int | None = None) -> bytes | None:
    """A request's whole body, for handlers that run without the framework; None when the client went away.
    Raises BodyTooLarge as soon as more than `cap` bytes have arrived."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if cap is not None and size > cap:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` whole, then whatever the connection says next (a disconnect)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class BodySizeLimit:
    """Answers 413 when a body exceeds its cap; `caps` maps a path prefix to its limit (first match wins)."""

    def __init__(self, app: ASGIApp, caps: list[tuple[str, int]], default: int) -> None:
        self.app = app
        self.caps = caps
        self.default = default

    def _cap(self, path: str) -> int:
        for prefix, cap in self.caps:
            if path.startswith(prefix):
                return cap
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope["path"])
        chunked = False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > cap:
                    await self.reject(send, cap)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if chunked:
            # No declared size: read the body here (at most `cap` bytes), as a framework that reads it later would
            # turn the overflow into its own 400.
            try:
                body = await read_body(receive, cap)
            except BodyTooLarge:
                await self.reject(send, cap)
                return
            if body is None:
                return  # the client went away
            receive = _replay(body, receive)
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self.reject(send, cap)

    @staticmethod
    async def reject(send: Send, cap: int) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"The request body exceeds {cap} bytes.",
                    "details": [],
                }
            },
            separators=(",", ":"),  # as every other error body
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
