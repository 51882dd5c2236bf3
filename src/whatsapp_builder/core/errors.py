"""The API's one error shape, `{"error": {"code", "message", "details"}}`, and the handlers that produce it."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidRequestError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from whatsapp_builder.logging import get_logger

log = get_logger(__name__)


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[Any] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code is not None:
            self.code = code


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(AppError):
    """An `If-Match` that no longer holds: what the client would change was changed by someone else meanwhile."""

    status_code = 412
    code = "edit_conflict"


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


def error_response(status: int, code: str, message: str, details: list[Any] | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or []}},
        status_code=status,
        headers=headers,
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: e.g. validation_error, not_found, window_closed")
    message: str = Field(description="For people")
    details: list[Any] = Field(description='Per field, for a 422: {"field", "message", "type"}')


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer of the API."""

    error: ErrorDetail


def documented(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


Responses = dict[int | str, dict[str, Any]]

API_ERROR_RESPONSES: Responses = {
    400: documented(
        "Malformed: the body is not JSON, a cursor is not one this list gave, or `If-Match` is not an entity tag"
    ),
    401: documented("No valid API token (Authorization: Bearer <token>)"),
    413: documented("The body is over the size limit"),
    415: documented(
        "A body sent as something other than JSON, in a charset other than UTF-8, or compressed (`Content-Encoding`)"
    ),
    422: documented("A value is not valid: `details` names each field"),
}
"""What any /api route may answer besides its own result (documented in OpenAPI, with the real body shape)."""

_ID_NOT_FOUND = "The id in the path names nothing (`not_found`): never existed, or deleted"
_IF_MATCH_FAILED = (
    "`If-Match` holds an `ETag` that is no longer the current one: someone else changed it meanwhile (`edit_conflict`)"
)


def document_route_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (an OpenAPI document) with the errors that follow from a route's shape: 404 on every /api operation
    with an id in its path, 412 on every one that takes `If-Match`. Answers a route documents itself are kept."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            if any(p.get("in") == "path" for p in parameters):
                responses.setdefault("404", _error_schema(_ID_NOT_FOUND))
            if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in parameters):
                responses.setdefault("412", _error_schema(_IF_MATCH_FAILED))
    return schema


def _error_schema(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def _blank_text(err: Any) -> bool:
    """A required text given as nothing but spaces (or nothing)."""
    ctx = err.get("ctx") or {}
    text = err.get("input")
    return (
        err.get("type") in ("string_too_short", "too_short")
        and ctx.get("min_length") == 1
        and isinstance(text, str)
        and not text.strip()
    )


def _validation_details(exc: RequestValidationError) -> tuple[bool, list[dict[str, Any]]]:
    details: list[dict[str, Any]] = []
    malformed = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            # Its location is ("body", <character offset>): no field, a place in the text.
            malformed = True
            where = [p for p in err.get("loc", ()) if p != "body"]
            at = f" at character {where[-1]}" if where and isinstance(where[-1], int) else ""
            # The parser's own words too: "Expecting value", "NaN is not a JSON value".
            why = (err.get("ctx") or {}).get("error")
            said = str(err.get("msg", "invalid JSON")) + (f" ({why})" if why else "")
            details.append({"field": "", "message": f"{said}{at}", "type": "json_invalid"})
            continue
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if len(loc) > 1 and loc[0] in ("path", "query", "header"):
            loc[1] = to_camel(loc[1])  # `path.conversationId`, as the API spells every name (not conversation_id)
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")  # pydantic's prefix for our checks
        if _blank_text(err):
            # pydantic counts after stripping: "at least 1 character" (or "1 item") about "   " reads as nonsense
            message = "must not be empty or blank"
        details.append({"field": ".".join(loc), "message": message, "type": err.get("type")})
    return malformed, details


def _body_not_sent_as_json(request: Request) -> bool:
    """A request with a body whose Content-Type is not JSON's."""
    has_body = request.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return has_body and not (media_type == "application/json" or media_type.endswith("+json"))


CLIENT_ROUTES = "webui"
"""The name of the route answering every GET path the API does not (webui_routes.py)."""


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def methods_serving(request: Request) -> set[str]:
    """The methods that routes other than the web app's catch-all serve this path with (asked of the routes one
    method at a time: included routers answer only whether they serve a request as a whole)."""
    routes = [route for route in request.app.router.routes if getattr(route, "name", None) != CLIENT_ROUTES]
    methods = set()
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            methods.add(method)
    return methods


def method_not_allowed(methods: set[str]) -> JSONResponse:
    """A 405 whose Allow header lists `methods`."""
    response = error_response(405, "method_not_allowed", "Method Not Allowed")
    response.headers["Allow"] = ", ".join(sorted(methods))
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed, details = _validation_details(exc)
        if malformed:
            return error_response(400, "malformed_json", "The request body is not valid JSON.", details)
        if _body_not_sent_as_json(request) and any(d["field"] == "" for d in details):
            # FastAPI reads a body as JSON only when it says so (`curl -d` sends a form's type): without this, the
            # answer was "Input should be a valid dictionary" about a body that may be perfectly good JSON (so that
            # detail is left out too).
            return error_response(
                415, "unsupported_media_type", "Send the body as JSON, with Content-Type: application/json."
            )
        return error_response(422, "validation_error", "The request is not valid.", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            methods = methods_serving(request)
            if not methods:  # only the web app's catch-all (GET) knows the path: nothing is there, whatever the method
                return error_response(404, "not_found", f"{request.url.path} does not exist.")
            return method_not_allowed(methods)  # every route's methods, not only the first one's
        if exc.status_code == 400 and exc.detail == FASTAPI_BODY_PARSE_ERROR:
            # What FastAPI says when decoding failed other than as bad JSON syntax: bytes that are not UTF-8, or
            # nesting so deep that the parser gives up (thousands of levels).
            return error_response(
                400,
                "malformed_json",
                "The request body is not JSON this server can read: not UTF-8, nested too deeply, or holding a"
                " number too long to read.",
            )
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(StaleDataError)
    async def deleted_meanwhile(request: Request, exc: StaleDataError) -> JSONResponse:
        # An update of a record another request deleted after this one read it (logged: were it ever anything
        # else, a 404 alone would hide it).
        log.info("record deleted while being changed", path=request.url.path, error=str(exc))
        return error_response(404, "not_found", "The record was deleted meanwhile.")

    @app.exception_handler(InvalidRequestError)
    async def gone_before_refresh(_: Request, exc: InvalidRequestError) -> JSONResponse:
        if str(exc).startswith("Could not refresh instance"):  # deleted between this request's commit and its read
            log.info("record deleted before it was read back", error=str(exc))
            return error_response(404, "not_found", "The record was deleted meanwhile.")
        log.error("unexpected error", exc_info=exc)  # a handler of its own: Starlette does not log it again
        return error_response(500, "internal_error", "An unexpected error occurred.")

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "23505":
            return error_response(409, "conflict", "A record with the same unique value already exists.")
        if sqlstate == "23503":
            return error_response(409, "conflict", "The record is referenced by, or refers to, another record.")
        return error_response(422, "validation_error", "The data breaks a database constraint.")

    @app.exception_handler(DBAPIError)
    async def db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        return database_error_response(exc)

    @app.exception_handler(psycopg.Error)
    async def raw_db_error(_: Request, exc: psycopg.Error) -> JSONResponse:
        # Hot paths (sending, batches) speak psycopg directly: its errors arrive without SQLAlchemy's wrapper.
        return database_error_response(exc)

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable_text(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # The schemas refuse such text with the field named; this is for any they miss (psycopg cannot send it).
        return error_response(422, "validation_error", "A value cannot be stored: text holding half a surrogate pair.")

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        return database_error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Not logged here: Starlette raises it again after this answer, and the server logs it once.
        return error_response(500, "internal_error", "An unexpected error occurred.")


def database_error_response(exc: DBAPIError | PoolTimeout | psycopg.Error) -> JSONResponse:
    """The answer to a database failure, wherever it surfaced (a route, or a middleware outside the handlers)."""
    if isinstance(exc, PoolTimeout):
        log.warning("no database connection free in time", error=str(exc))
        return error_response(503, "service_unavailable", "The server is busy; try again.")
    if isinstance(exc, OperationalError):
        log.error("database unavailable", error=str(exc.orig))
        return error_response(503, "service_unavailable", "The database is unavailable; try again.")
    if isinstance(exc, DBAPIError):
        return _database_error(exc.orig)
    return _database_error(exc)


def _database_error(orig: BaseException | None) -> JSONResponse:
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate == "23505":
        return error_response(409, "conflict", "A record with the same unique value already exists.")
    if sqlstate == "23503":
        return error_response(409, "conflict", "The record is referenced by, or refers to, another record.")
    if sqlstate.startswith("23"):
        return error_response(422, "validation_error", "The data breaks a database constraint.")
    # Data exceptions (value too long, bad format...), and text psycopg refuses to send (U+0000).
    if sqlstate.startswith("22") or isinstance(orig, psycopg.DataError):
        return error_response(
            422, "validation_error", "A value cannot be stored: too long, malformed, or text holding U+0000."
        )
    if sqlstate.startswith("08") or sqlstate.startswith("57") or isinstance(orig, psycopg.OperationalError):
        return error_response(503, "service_unavailable", "The database is unavailable; try again.")
    log.error("database error", exc_info=orig)
    return error_response(500, "internal_error", "An unexpected database error occurred.")
