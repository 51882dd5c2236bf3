"""The route class of every `/api` router: request bodies are read as JSON, and only as JSON.

FastAPI reads a body with Starlette's `Request.json()`, the standard library's `json.loads`, which also takes
`NaN`, `Infinity` and `-Infinity` (and reads `1e400` as infinity). None of them is JSON: each route then had to
refuse them itself, and one that did not (the test run's inputs) took them. Read here with
`fastjson.standard_loads`, they are malformed JSON, the 400 `malformed_json` of any other syntax error, with
their place in the body named; everything else reads as before (the same encodings)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from whatsapp_builder.core import fastjson


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = fastjson.standard_loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return strict_json_handler
