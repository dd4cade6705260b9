"""Caps: request body size (ASGI middleware, enforced while reading) and engine concurrency.

``BodySizeLimit`` answers 413 at once when ``Content-Length`` is over the cap, and otherwise
counts the bytes as the application reads them, failing the read with a 413 as soon as the count
passes the cap: a client that lies about (or omits) the length cannot push more than the cap.

``ConcurrencyLimiter`` hands out a bounded number of slots for synthesis / codec jobs. A request
that finds none free waits at most ``queue_timeout_s`` and then gets 503 with ``Retry-After``.
A slot is released exactly once, however the request ends (finished, failed, disconnected).
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
    """At most ``limit`` jobs at once; the rest wait ``queue_timeout_s`` then get 503."""

    def __init__(self, limit: int, queue_timeout_s: float = 0.0, retry_after_s: int = 1) -> None:
        self.limit = limit
        self.queue_timeout_s = queue_timeout_s
        self.retry_after_s = retry_after_s
        self.active = 0
        self.waiting = 0
        self.rejected_total = 0
        self._sem = asyncio.Semaphore(limit)

    async def acquire(self) -> Slot:
        if self._sem.locked() and self.queue_timeout_s <= 0:
            self._reject()
        self.waiting += 1
        try:
            if self.queue_timeout_s > 0:
                await asyncio.wait_for(self._sem.acquire(), self.queue_timeout_s)
            else:
                await self._sem.acquire()
        except asyncio.TimeoutError:
            self._reject()
        finally:
            self.waiting -= 1
        self.active += 1
        return Slot(self)

    def _reject(self) -> None:
        self.rejected_total += 1
        raise ApiError(
            503,
            f"server busy: {self.limit} requests already running; retry later",
            {"Retry-After": str(self.retry_after_s)},
        )

    def _release(self) -> None:
        self.active -= 1
        self._sem.release()
