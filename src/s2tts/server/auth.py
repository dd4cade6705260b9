"""API-key check: ``Authorization: Bearer <key>`` on every route but the public ones.

A pure ASGI middleware, so it runs before any body is read and covers websockets too. The key is
compared in constant time (``hmac.compare_digest`` on bytes). A wrong or missing key gets 401
with ``WWW-Authenticate: Bearer``; a websocket is refused with the same 401 through the ASGI
denial-response extension where the server has it, else closed with code 1008 before accept.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from s2tts.server.http_errors import error_body


def bearer_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The token of an ``Authorization: Bearer`` header (or of ``X-API-Key``), else None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.strip()
    return None


def key_matches(provided: bytes | None, expected: bytes) -> bool:
    """Constant-time comparison (no early exit on the first differing byte)."""
    return provided is not None and hmac.compare_digest(provided, expected)


class ApiKeyAuth:
    """ASGI middleware: require the API key on all paths except ``public_paths``."""

    def __init__(self, app: ASGIApp, api_key: str, public_paths: frozenset[str]) -> None:
        self.app = app
        self._key = api_key.encode("utf-8")
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.public_paths:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":  # CORS preflight
            await self.app(scope, receive, send)
            return
        if key_matches(bearer_token(scope.get("headers", [])), self._key):
            await self.app(scope, receive, send)
            return
        body = json.dumps(error_body(401, "missing or invalid API key")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b"Bearer"),
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "missing or invalid API key"})
