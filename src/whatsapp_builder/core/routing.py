"""The route class of every `/api` router: request bodies are read as JSON, and only as JSON.

FastAPI reads a body with Starlette's `Request.json()`, the standard library's `json.loads`, which also takes
`NaN`, `Infinity` and `-Infinity` (and reads `1e400` as infinity). None of them is JSON: each route then had to
refuse them itself, and one that did not (the test run's inputs) took them. Read here with
`fastjson.standard_loads`, they are malformed JSON, the 400 `malformed_json` of any other syntax error, with
their place in the body named.

The body is read as UTF-8 only (a UTF-8 byte order mark is skipped, as before): given bytes, the standard library
also guessed UTF-16 and UTF-32, which JSON exchanged between systems must not be (RFC 8259); such a body is the
400 `malformed_json` of bytes that are not UTF-8. A body labelled with another charset, or compressed
(`Content-Encoding`), is a 415 before it is parsed (core/content.py)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from whatsapp_builder.core import fastjson
from whatsapp_builder.core.content import unreadable_body


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            problem = unreadable_body(self.headers.get("content-type"), self.headers.getlist("content-encoding"))
            if problem is not None:
                # An HTTPException is the one error FastAPI lets through from reading the body (anything else
                # becomes its 400 "error parsing the body"); the error handlers give it the API's shape.
                raise HTTPException(415, problem)
            # "surrogatepass": half of a surrogate pair reads as before (the schemas refuse it with its field).
            self._json = fastjson.standard_loads((await self.body()).decode("utf-8-sig", "surrogatepass"))
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return strict_json_handler
