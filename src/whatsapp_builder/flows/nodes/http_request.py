"""http_request nodes: call an external API through the injected performer."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from whatsapp_builder.core import fastjson
from whatsapp_builder.flows.graph import FlowNode
from whatsapp_builder.flows.http import HttpRequestSpec, HttpResult, RequestDeferred
from whatsapp_builder.flows.nesting import MAX_JSON_DEPTH, cut_deep, json_depth_exceeds
from whatsapp_builder.flows.nodes.base import Follow, NodeHandler, Outcome, TurnContext
from whatsapp_builder.flows.templating import get_path, render_value

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 30.0
TURN_HTTP_SECONDS = 30.0
"""The time all of a turn's requests may take together: an http_request whose error exit loops back to it would
otherwise hold the turn (and the transaction of every conversation in its batch) fifty times its timeout."""
MAX_MAPPED_BYTES = 64 * 1024
"""The most a response value may take (as JSON) in a variable: variables live in the context row, in every
event and every page that shows it (thirty mappings of a 1 MB response made a 28 MB context)."""
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def build_request(ctx: TurnContext, data: Mapping[str, Any]) -> HttpRequestSpec:
    method = str(data.get("method", "GET")).upper()
    headers_raw = data.get("headers")
    headers: dict[str, str] = {}
    if isinstance(headers_raw, Mapping):
        for key, value in headers_raw.items():
            headers[str(key)] = " ".join(ctx.render(value).splitlines())
    body_raw = data.get("body")
    body: str | None = None
    json_body: Any | None = None
    if isinstance(body_raw, str):
        body = ctx.render(body_raw)
    elif isinstance(body_raw, dict | list):
        json_body = render_value(body_raw, ctx.scope)
    timeout_raw = data.get("timeoutSeconds", DEFAULT_TIMEOUT)
    timeout = (
        float(timeout_raw)
        if isinstance(timeout_raw, int | float) and not isinstance(timeout_raw, bool)
        else (DEFAULT_TIMEOUT)
    )
    return HttpRequestSpec(
        method=method if method in METHODS else "GET",
        url=ctx.render(data.get("url")).strip(),
        headers=headers,
        body=body,
        json=json_body,
        timeout=max(0.1, min(timeout, MAX_TIMEOUT)),
    )


async def _perform(ctx: TurnContext, request: HttpRequestSpec) -> HttpResult:
    try:
        return await ctx.http.perform(request)
    except RequestDeferred:
        raise
    except Exception as exc:  # the performer should never raise; a bad one must not break the turn
        return HttpResult(ok=False, error=f"{type(exc).__name__}: {exc}")


async def enter_http_request(ctx: TurnContext, node: FlowNode) -> Outcome:
    request = build_request(ctx, node.data)
    left = TURN_HTTP_SECONDS - ctx.http_seconds
    if left < 0.1:
        result = HttpResult(ok=False, error="this turn's time for HTTP requests is spent")
    else:
        started = time.monotonic()
        result = await _perform(ctx, replace(request, timeout=min(request.timeout, left)))
        ctx.http_seconds += time.monotonic() - started
    status = result.status if isinstance(result.status, int) else None
    success = bool(result.ok) and (status is None or 200 <= status < 300)
    status_variable = node.data.get("statusVariable")
    if isinstance(status_variable, str) and status_variable:
        ctx.set_variable(status_variable, status)
    if success:
        mapping = node.data.get("responseMapping")
        for item in mapping if isinstance(mapping, list) else []:
            if isinstance(item, Mapping):
                entry = cast(Mapping[str, Any], item)
                variable, path = entry.get("variable"), entry.get("path")
                if isinstance(variable, str) and variable and isinstance(path, str):
                    value = get_path(result.json, path.strip())
                    if json_depth_exceeds(value):
                        # Stored deeper, the context could not be served (API, test runs) nor saved reliably.
                        ctx.log.append(f"http_request {node.id}: {variable} cut to {MAX_JSON_DEPTH} levels of nesting")
                        value = cut_deep(value)
                    if value is not None and len(fastjson.dumps(value)) > MAX_MAPPED_BYTES:
                        ctx.log.append(f"http_request {node.id}: {variable} over {MAX_MAPPED_BYTES} bytes: null")
                        value = None
                    ctx.set_variable(variable, value)
    ctx.log.append(
        f"http_request {node.id}: {request.method} {request.url} -> "
        + (f"status {status}" if success else f"error {result.error or status}")
    )
    return Follow("success" if success else "error")


HTTP_REQUEST = NodeHandler(enter_http_request)
