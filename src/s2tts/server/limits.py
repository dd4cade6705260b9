"""Caps: request body size (ASGI middleware, enforced while reading) and engine concurrency.

``BodySizeLimit`` answers 413 at once when ``Content-Length`` is over the cap, and otherwise
counts the bytes as the application reads them, failing the read with a 413 as soon as the count
passes the cap: a client that lies about (or omits) the length cannot push more than the cap.

``ConcurrencyLimiter`` hands out ``max_sessions`` slots for synthesis / codec jobs. A request that
finds none free waits in a queue of at most ``max_queue`` requests, in arrival order, for up to
``queue_timeout_s``; a full queue answers 429 at once, a wait that times out 503, both with
``Retry-After``. A slot is released exactly once, however the request ends (finished, failed,
disconnected).
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from s2tts.server.http_errors import ApiError, error_body


class BodySizeLimit:
    """ASGI middleware: HTTP request bodies larger than ``max_bytes`` get 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await _send_413(send, self.max_bytes)
                    return
        seen = 0
        limit = self.max_bytes

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise ApiError(413, f"request body is larger than {limit} bytes")
            return message

        await self.app(scope, capped_receive, send)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(error_body(413, f"request body is larger than {limit} bytes")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Slot:
    """One held concurrency slot; ``release`` is idempotent."""

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter._release()


class ConcurrencyLimiter:
    """At most ``max_sessions`` jobs at once, at most ``max_queue`` waiting for up to ``queue_timeout_s``."""

    def __init__(
        self, max_sessions: int, max_queue: int = 64, queue_timeout_s: float = 30.0, retry_after_s: int = 1
    ) -> None:
        self.limit = max_sessions
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self.retry_after_s = retry_after_s
        self.active = 0
        self.waiting = 0
        self.rejected_total = 0
        self._sem = asyncio.Semaphore(max_sessions)

    async def acquire(self) -> Slot:
        if self._sem.locked() or self.waiting:
            if self.waiting >= self.max_queue:
                self._reject(429, f"server busy: {self.limit} requests running and {self.waiting} queued")
            if self.queue_timeout_s <= 0:
                self._reject(503, f"server busy: {self.limit} requests already running")
        self.waiting += 1
        try:
            await asyncio.wait_for(
                self._sem.acquire(), self.queue_timeout_s if self.queue_timeout_s > 0 else None
            )
        except asyncio.TimeoutError:
            self._reject(503, f"server busy: no free slot within {self.queue_timeout_s:g} s")
        finally:
            self.waiting -= 1
        self.active += 1
        return Slot(self)

    def _reject(self, status: int, message: str) -> None:
        self.rejected_total += 1
        raise ApiError(status, f"{message}; retry later", {"Retry-After": str(self.retry_after_s)})

    def _release(self) -> None:
        self.active -= 1
        self._sem.release()
