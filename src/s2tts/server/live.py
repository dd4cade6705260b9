"""``WS /v1/tts/live``: fish.audio's live protocol -- text streams in, audio streams out.

Client -> server (msgpack binary frames; JSON text frames are accepted too)::

    {"event": "start", "request": {...LiveTTSRequest...}}   once, first
    {"event": "text", "text": "..."}                         any number
    {"event": "flush"}                                       speak what is buffered now
    {"event": "stop"}                                        speak the rest, then finish

Server -> client (same framing as the client's ``start``; JSON carries audio as base64)::

    {"event": "audio", "audio": <bytes>}                     pieces of ONE audio stream
    {"event": "finish", "reason": "stop" | "error", "message": "..."}

Text is cut into segments at sentence ends once ``min_chunk_length`` characters are buffered (or
at a space once ``chunk_length`` is reached, or on flush / stop); segments are spoken in order by
one producer task, one engine request each, all into one encoder, so the client receives a single
continuous file (one wav header, one mp3 stream). Without a reference voice, the first segment's
audio becomes the reference of the following ones (``condition_on_previous_chunks``), so the voice
stays the same across segments. A client that goes away cancels the producer, which closes the
engine stream in flight and frees its slot.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from typing import Any

import numpy as np
import ormsgpack
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from s2tts.errors import S2TTSError
from s2tts.inference.types import VoiceReference
from s2tts.server.context import ServerContext
from s2tts.server.effects import PostProcessor
from s2tts.server.formats import StreamEncoder
from s2tts.server.http_errors import ApiError, validation_message
from s2tts.server.schemas import LiveTTSRequest
from s2tts.server.synthesis import SynthesisJob, build_request, latency_frames, resolve_references

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"[.!?;:。！？；…\n]+[\"')\]」』]*(?=\s|$)|[。！？；…]+")
_MAX_CONDITION_SECONDS = 30.0


class LiveError(Exception):
    """A protocol error: ends the session with ``finish: error``."""


def split_ready(buffer: str, min_chars: int, max_chars: int) -> tuple[list[str], str]:
    """Cut the complete segments off ``buffer``; returns (segments, rest)."""
    segments = []
    while True:
        cut = 0
        for match in _SENTENCE_END.finditer(buffer):
            if match.end() >= min_chars:
                cut = match.end()
                break
        if not cut and len(buffer) >= max_chars:
            space = buffer.rfind(" ", 0, max_chars)
            cut = space if space > 0 else max_chars
        if not cut:
            return segments, buffer
        head, buffer = buffer[:cut].strip(), buffer[cut:]
        if head:
            segments.append(head)


class LiveSession:
    """One websocket conversation."""

    def __init__(self, ctx: ServerContext, ws: WebSocket) -> None:
        self.ctx = ctx
        self.ws = ws
        self.use_json = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.buffer = ""

    async def send(self, event: dict[str, Any]) -> None:
        if self.use_json:
            if isinstance(event.get("audio"), bytes):
                event = {**event, "audio": base64.b64encode(event["audio"]).decode("ascii")}
            await self.ws.send_text(json.dumps(event))
        else:
            await self.ws.send_bytes(ormsgpack.packb(event))

    async def receive(self) -> dict[str, Any]:
        try:
            message = await asyncio.wait_for(self.ws.receive(), self.ctx.settings.live_idle_timeout_s)
        except asyncio.TimeoutError as exc:
            raise LiveError("idle timeout") from exc
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        raw_bytes, raw_text = message.get("bytes"), message.get("text")
        size = len(raw_bytes or b"") + len(raw_text or "")
        if size > self.ctx.settings.max_body_bytes:
            raise LiveError(f"message larger than {self.ctx.settings.max_body_bytes} bytes")
        try:
            data = ormsgpack.unpackb(raw_bytes) if raw_bytes is not None else json.loads(raw_text or "")
        except (ValueError, TypeError) as exc:
            raise LiveError(f"message is neither msgpack nor JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise LiveError("message must be an object with an 'event'")
        return data

    async def run(self) -> None:
        first = await self.ws.receive()
        if first["type"] == "websocket.disconnect":
            return
        self.use_json = first.get("bytes") is None
        producer: asyncio.Task[None] | None = None
        try:
            start = self._parse_first(first)
            request = LiveTTSRequest.model_validate(start.get("request") or {})
            references = await resolve_references(
                self.ctx,
                request.references,
                [request.reference_id]
                if isinstance(request.reference_id, str)
                else list(request.reference_id or []),
            )
            producer = asyncio.create_task(self._produce(request, references))
            if request.text:
                await self._add_text(request, request.text)
            while True:
                receiver = asyncio.ensure_future(self.receive())
                done, _ = await asyncio.wait({receiver, producer}, return_when=asyncio.FIRST_COMPLETED)
                if producer in done:  # the producer failed (it only ends early on errors)
                    receiver.cancel()
                    await asyncio.gather(receiver, return_exceptions=True)
                    producer.result()
                    return
                data = receiver.result()
                event = data["event"]
                if event == "text":
                    text = data.get("text")
                    if not isinstance(text, str):
                        raise LiveError("text event without a string 'text'")
                    await self._add_text(request, text)
                elif event == "flush":
                    await self._flush()
                elif event in ("stop", "close"):
                    await self._flush()
                    await self.queue.put(None)
                    await producer
                    await self.send({"event": "finish", "reason": "stop"})
                    await self.ws.close()
                    return
                elif event == "start":
                    raise LiveError("session already started")
                # other events (e.g. keep-alives) are ignored
        except WebSocketDisconnect:
            self.ctx.stats.disconnects_total += 1
        except (LiveError, ApiError, S2TTSError, ValidationError) as exc:
            await self._fail(exc)
        except Exception as exc:
            log.exception("live session failed")
            await self._fail(exc, "internal server error")
        finally:
            if producer is not None and not producer.done():
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)

    def _parse_first(self, message: dict[str, Any]) -> dict[str, Any]:
        raw_bytes, raw_text = message.get("bytes"), message.get("text")
        try:
            data = ormsgpack.unpackb(raw_bytes) if raw_bytes is not None else json.loads(raw_text or "")
        except (ValueError, TypeError) as exc:
            raise LiveError(f"message is neither msgpack nor JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("event") != "start":
            raise LiveError("the first message must be a 'start' event")
        return data

    async def _add_text(self, request: LiveTTSRequest, text: str) -> None:
        self.buffer += text
        if len(self.buffer) > self.ctx.settings.max_text_chars:
            raise LiveError(
                f"more than {self.ctx.settings.max_text_chars} characters buffered without a flush"
            )
        segments, self.buffer = split_ready(self.buffer, request.min_chunk_length, request.chunk_length)
        for segment in segments:
            await self.queue.put(segment)

    async def _flush(self) -> None:
        text, self.buffer = self.buffer.strip(), ""
        if text:
            await self.queue.put(text)

    async def _produce(self, request: LiveTTSRequest, references: list[VoiceReference]) -> None:
        engine = self.ctx.engine
        prosody = request.prosody
        encoder = StreamEncoder(request.format, engine.sample_rate, request.sample_rate, streaming=True)
        post = PostProcessor(
            engine.sample_rate,
            speed=prosody.speed if prosody else 1.0,
            gain_db=prosody.volume if prosody else 0.0,
        )
        condition = request.condition_on_previous_chunks and not references
        try:
            while (segment := await self.queue.get()) is not None:
                synth = build_request(
                    segment,
                    references,
                    request,
                    defaults=self.ctx.engine.default_sampling,
                    chunk_length=request.chunk_length,
                    first_chunk_frames=latency_frames(self.ctx, request.latency),
                    timeout_s=self.ctx.settings.request_timeout_s,
                )
                job = await SynthesisJob.start(self.ctx, synth)
                kept: list[np.ndarray] = []
                try:
                    async for pcm in job.pcm():
                        if condition:
                            kept.append(pcm)
                        data = encoder.push(post.process(pcm))
                        if data:
                            await self.send({"event": "audio", "audio": data})
                finally:
                    await job.aclose()
                if condition and kept:
                    audio = np.concatenate(kept)[: int(_MAX_CONDITION_SECONDS * engine.sample_rate)]
                    references = [VoiceReference(text=segment, audio=audio, sample_rate=engine.sample_rate)]
                    condition = False
            tail = encoder.push(post.flush()) + encoder.finish()
            if tail:
                await self.send({"event": "audio", "audio": tail})
        finally:
            encoder.close()

    async def _fail(self, exc: BaseException, message: str | None = None) -> None:
        if isinstance(exc, ValidationError):
            text = validation_message(list(exc.errors()))
        elif isinstance(exc, ApiError):
            text = str(exc.detail)
        else:
            text = message or str(exc) or type(exc).__name__
        try:
            await self.send({"event": "finish", "reason": "error", "message": text})
            await self.ws.close(code=1011 if message else 1008)
        except (WebSocketDisconnect, RuntimeError):
            pass


def build_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter(tags=["tts"])

    @router.websocket("/v1/tts/live")
    async def live(ws: WebSocket) -> None:
        await ws.accept()
        ctx.stats.live_sessions_active += 1
        try:
            await LiveSession(ctx, ws).run()
        finally:
            ctx.stats.live_sessions_active -= 1

    return router
