"""One error shape for every failure, and the only place where domain errors become HTTP.

Every error answer, whatever raised it (a domain error, request validation, an unknown
route, a body over its cap, a bug), has the body

    {"error": {"code": "collection_not_found", "message": "collection 'x' does not exist",
               "detail": null}}

`code` is stable and machine-readable (clients switch on it), `message` is for people and
says what to do, `detail` carries structured extras (the validation errors, the supported
types, the seconds to wait). Routes document theirs with `errors(404, ...)`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    Conflict,
    EngineUnavailable,
    Forbidden,
    IndexCorrupt,
    InvalidInput,
    InvalidMetadata,
    ModelUnavailable,
    NotCaughtUp,
    NotFound,
    OutOfRange,
    Overloaded,
    ParseFailed,
    RagError,
    StorageFull,
    StoreTooNew,
    StoreUnavailable,
    TooLarge,
    Unauthorized,
    UnsupportedType,
)

log = logging.getLogger(__name__)


class ErrorInfo(BaseModel):
    """What went wrong: a stable code, a sentence for people, optional structured detail."""

    code: str = Field(..., description="stable, machine-readable", examples=["collection_not_found"])
    message: str = Field(..., description="what went wrong and what to do")
    detail: Any = Field(None, description="structured extras: validation errors, supported types, ...")


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


# Domain error -> HTTP status. Subclasses come before their bases (OutOfRange is InvalidInput).
STATUS: list[tuple[type[RagError], int]] = [
    (NotFound, 404), (OutOfRange, 422), (InvalidMetadata, 422), (Conflict, 409), (StorageFull, 507), (InvalidInput, 400), (UnsupportedType, 415), (TooLarge, 413),
    (ParseFailed, 422), (ModelUnavailable, 503), (IndexCorrupt, 503), (StoreTooNew, 503),
    (StoreUnavailable, 503), (NotCaughtUp, 503), (EngineUnavailable, 503),
    (Overloaded, 429), (Unauthorized, 401), (Forbidden, 403),
]

_DESCRIPTIONS = {
    400: "Bad request", 401: "No key, or an unknown or revoked one", 403: "The key lacks the scope",
    404: "Not found", 409: "Conflicts with the current state", 408: "The body arrived too slowly", 413: "Too large", 415: "Unsupported file type",
    422: "Invalid request", 429: "Overloaded or over the key's request rate: retry after Retry-After",
    500: "Unexpected error", 507: "No space left where the write is stored", 503: "A model, engine, index or store is unavailable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all with the one error body."""
    return {status: {"model": ErrorOut, "description": _DESCRIPTIONS.get(status, "Error")} for status in statuses}


# Every route that takes a key: no key or a bad one, and the key's request rate.
KEYED = errors(401, 429)
# Every route that takes a body: the body limits (too slow, too large) and validation.
BODY = errors(408, 413, 422)
# 500 is documented nowhere: any 500 is a bug (and the fuzz test fails on it).


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The JSON body of an error (also used by middleware that answers before the app)."""
    return {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail)}}


def error_response(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer in the one shape."""
    return JSONResponse(error_body(code, message, detail), status_code=status, headers=headers)


def status_of(exc: RagError) -> int:
    """The HTTP status for a domain error (500 for one this table does not know)."""
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def stream_error(exc: Exception) -> tuple[str, str]:
    """(code, message) for an error raised after a streamed response began (logged here)."""
    if isinstance(exc, RagError):
        return exc.code, str(exc)
    log.exception("unexpected error while streaming an answer")
    return "internal_error", "an unexpected error while answering; the server log has the details"


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: pydantic's `input` echoes the request (maybe megabytes, maybe a secret).
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()]


def _document_only_reachable_errors(app: FastAPI) -> None:
    """FastAPI documents a 422 in its own shape on every route with a parameter; the routes
    whose 422 is reachable document it in ours (`BODY`, `errors(422)`), so its own ones (a
    path string cannot fail validation) are dropped from the schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for item in schema.get("paths", {}).values():
            for op in item.values():
                response = op.get("responses", {}).get("422")
                if response and "HTTPValidationError" in json.dumps(response):
                    del op["responses"]["422"]
        if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    async def domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RagError)
        headers: dict[str, str] = {}
        if isinstance(exc, Overloaded):
            headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(status_of(exc), exc.code, str(exc), exc.detail, headers)

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = _validation_detail(exc)
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        more = f" (and {len(detail) - 1} more)" if len(detail) > 1 else ""
        return error_response(422, "invalid_request", f"{where}: {first['msg']}{more}", detail)

    async def http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(404, "route_not_found", "no such route; GET /docs lists the API")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", "this route does not take that method; see /docs",
                                  headers=dict(exc.headers or {}))
        return error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail),
                              headers=dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error; the server log has the details")

    _document_only_reachable_errors(app)
    app.add_exception_handler(RagError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unexpected)
