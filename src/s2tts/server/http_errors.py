"""Errors as HTTP answers: one JSON shape for every failure, and the exception -> status table.

Every error body is ``{"detail": msg, "error": {"message": msg, "type": kind, "code": status}}``:
``detail`` is what FastAPI / fish-speech clients read, ``error`` what OpenAI's clients read.
Library errors map to statuses here and nowhere else; an unexpected exception becomes a 500 with
a generic message (logged with its traceback) and the server keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from s2tts.errors import (
    AudioError,
    AudioTooLongError,
    CodesError,
    EngineOverloadedError,
    PromptTooLongError,
    RequestCancelledError,
    RequestTimeoutError,
    S2TTSError,
    SamplingError,
    VoiceNotFoundError,
)
from s2tts.server.voices import VoiceExistsError, VoiceIdError

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "overloaded_error",
    504: "timeout_error",
}


class ApiError(StarletteHTTPException):
    """An error answer raised from anywhere in a request (a HTTPException, so FastAPI's body
    parsing passes it through untouched)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=dict(headers) if headers else None)


def error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "detail": message,
        "error": {"message": message, "type": _TYPES.get(status, "error"), "code": status},
    }


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=dict(headers or {}))


def validation_message(errors: list[Any]) -> str:
    """pydantic errors -> one readable line (never echoes the input, which may be audio bytes)."""
    parts = []
    for err in errors[:8]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    if len(errors) > 8:
        parts.append(f"... and {len(errors) - 8} more")
    return "; ".join(parts)


def status_of(exc: S2TTSError) -> int:
    """The HTTP status of a library error."""
    if isinstance(exc, VoiceNotFoundError):
        return 404
    if isinstance(exc, VoiceExistsError):
        return 409
    if isinstance(exc, EngineOverloadedError):
        return 503
    if isinstance(exc, RequestTimeoutError):
        return 504
    if isinstance(exc, AudioTooLongError):
        return 413
    if isinstance(exc, (CodesError, SamplingError)):
        return 422
    if isinstance(exc, RequestCancelledError):
        return 499
    if isinstance(exc, (PromptTooLongError, AudioError, VoiceIdError)):
        return 400
    return 400


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    """Register the JSON error handlers on ``app``."""

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, (RequestValidationError, ValidationError))
        return error_response(422, validation_message(list(exc.errors())))

    async def on_library(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, S2TTSError)
        status = status_of(exc)
        headers = {"Retry-After": str(retry_after_s)} if status == 503 else None
        return error_response(status, str(exc) or type(exc).__name__, headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal server error")

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(S2TTSError, on_library)
    app.add_exception_handler(Exception, on_unexpected)
