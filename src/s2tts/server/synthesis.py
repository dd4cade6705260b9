"""From an API request to audio bytes: references, sampling, the engine stream, effects, encoding.

Flow of one request::

    body -> schema -> SynthesisRequest (+ VoiceReferences) -> SynthesisJob (slot + engine.stream)
         -> PostProcessor (speed, volume) -> StreamEncoder (format, rate) -> bytes / SSE events

``SynthesisJob.start`` takes a concurrency slot and pulls the engine's *first* chunk before any
response header is sent, so overload, a bad prompt or a bad reference still become a proper
4xx/5xx JSON answer even for streaming requests. After that the job owns the slot and the engine
stream until ``aclose`` (idempotent), which every exit path calls: normal end, error, or the
client going away (``ManagedStreamingResponse`` closes the body iterator when the ASGI call ends,
and the one-shot path watches for ``http.disconnect`` while it collects).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from s2tts.errors import AudioTooLongError
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import AudioChunk, SynthesisRequest, VoiceReference
from s2tts.server.audio_input import decode_audio
from s2tts.server.context import ServerContext
from s2tts.server.effects import PostProcessor
from s2tts.server.formats import StreamEncoder
from s2tts.server.http_errors import ApiError
from s2tts.server.limits import Slot
from s2tts.server.schemas import ReferenceAudio, SamplingFields
from s2tts.text.split import DEFAULT_CHUNK_LENGTH

log = logging.getLogger(__name__)


# -- request building ----------------------------------------------------------------------------


def sampling_params(fields: SamplingFields, defaults: SamplingParams | None = None) -> SamplingParams:
    """API sampling fields -> SamplingParams (the validation the CLI uses too; 0 means greedy);
    fields left out take ``defaults`` (the engine's ``default_sampling``)."""
    return SamplingParams.from_user(
        fields.temperature,
        fields.top_p,
        fields.top_k,
        fields.max_new_tokens,
        fields.min_new_tokens,
        defaults=defaults,
    )


def check_text(ctx: ServerContext, text: str, what: str = "text") -> str:
    if not text.strip():
        raise ApiError(422, f"{what} is empty")
    if len(text) > ctx.settings.max_text_chars:
        raise ApiError(413, f"{what} has {len(text)} characters; the limit is {ctx.settings.max_text_chars}")
    return text


def latency_frames(ctx: ServerContext, latency: str) -> int | None:
    """First streamed chunk size for a latency mode (None: the engine's default)."""
    return ctx.settings.low_latency_first_chunk_frames if latency in ("balanced", "low") else None


async def inline_references(
    ctx: ServerContext, refs: list[ReferenceAudio], budget: ReferenceBudget
) -> list[VoiceReference]:
    """Uploaded reference clips -> VoiceReferences holding decoded audio (the engine encodes)."""
    out = []
    for i, ref in enumerate(refs):
        pcm, rate = await run_in_threadpool(budget.decode, ref.audio, f"reference {i}")
        out.append(VoiceReference(text=ref.text, audio=pcm, sample_rate=rate))
    return out


class ReferenceBudget:
    """Seconds of reference audio one request may still decode (``max_reference_seconds`` in all)."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.left = seconds

    def decode(self, data: bytes, what: str) -> tuple[np.ndarray, int]:
        """``decode_audio`` within what is left of the budget; the budget shrinks by the clip."""
        try:
            pcm, rate = decode_audio(data, self.left, what)
        except AudioTooLongError:
            if self.left < self.total:
                raise AudioTooLongError(
                    f"the references of one request are longer than {self.total:g} s in all"
                ) from None
            raise
        self.left -= len(pcm) / rate
        return pcm, rate


async def stored_reference(
    ctx: ServerContext, voice_id: str, budget: ReferenceBudget | None = None
) -> VoiceReference:
    """A stored voice -> VoiceReference; its codes are computed once and cached beside it."""
    voice = await run_in_threadpool(ctx.voices.get, voice_id)
    codes = await run_in_threadpool(ctx.voices.get_codes, voice_id)
    if codes is not None and codes.shape[0] == ctx.engine.num_codebooks:
        return VoiceReference(text=voice.text, codes=torch.from_numpy(codes), voice_id=voice_id)
    budget = budget or ReferenceBudget(ctx.settings.max_reference_seconds)
    pcm, rate = await run_in_threadpool(budget.decode, voice.audio, f"voice {voice_id!r}")
    if not ctx.settings.cache_voice_codes:
        return VoiceReference(text=voice.text, audio=pcm, sample_rate=rate, voice_id=voice_id)
    encoded = await run_in_threadpool(ctx.engine.encode_audio, pcm, rate)
    codes_t = encoded.detach().to("cpu", torch.int64)
    await run_in_threadpool(ctx.voices.put_codes, voice_id, codes_t.numpy())
    return VoiceReference(text=voice.text, codes=codes_t, voice_id=voice_id)


async def resolve_references(
    ctx: ServerContext, inline: list[ReferenceAudio], voice_ids: list[str]
) -> list[VoiceReference]:
    """Inline clips first, then stored voices, in order (speaker i = i-th reference). At most
    ``max_references`` of them, and ``max_reference_seconds`` of audio to decode in all."""
    if len(inline) + len(voice_ids) > ctx.settings.max_references:
        raise ApiError(422, f"at most {ctx.settings.max_references} references per request")
    budget = ReferenceBudget(ctx.settings.max_reference_seconds)
    refs = await inline_references(ctx, inline, budget)
    for voice_id in voice_ids:
        refs.append(await stored_reference(ctx, voice_id, budget))
    return refs


# -- running the engine --------------------------------------------------------------------------


class SynthesisJob:
    """One engine stream plus the concurrency slot it holds; ``aclose`` frees both, once."""

    def __init__(self, stream: AsyncIterator[AudioChunk], slot: Slot, first: AudioChunk | None) -> None:
        self._stream = stream
        self._slot = slot
        self._first = first
        self._closed = False
        self.samples = 0
        self.finished = False  # the engine ran to its end

    @classmethod
    async def start(cls, ctx: ServerContext, request: SynthesisRequest) -> SynthesisJob:
        """Take a slot, start the engine, wait for its first chunk (errors raise here)."""
        slot = await ctx.limiter.acquire()
        stream: AsyncIterator[AudioChunk] | None = None
        try:
            stream = ctx.engine.stream(request)
            first: AudioChunk | None = await stream.__anext__()
        except StopAsyncIteration:
            first = None
            assert stream is not None
            job = cls(stream, slot, None)
            job.finished = True
            return job
        except BaseException:
            if stream is not None:
                await _aclose(stream)
            slot.release()
            raise
        return cls(stream, slot, first)

    async def pcm(self) -> AsyncIterator[np.ndarray]:
        """The chunks' float32 PCM, the primed first chunk included."""
        if self._first is not None:
            first, self._first = self._first, None
            self.samples += len(first.pcm)
            yield first.pcm
            if first.is_last:
                self.finished = True
                return
        if self._closed or self.finished:
            return
        async for chunk in self._stream:
            self.samples += len(chunk.pcm)
            yield chunk.pcm
        self.finished = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await _aclose(self._stream)
        finally:
            self._slot.release()


async def _aclose(stream: AsyncIterator[Any]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # the engine's own cleanup failing must not mask the real outcome
            log.exception("closing an engine stream failed")


async def encoded_chunks(
    job: SynthesisJob, post: PostProcessor, encoder: StreamEncoder
) -> AsyncIterator[bytes]:
    """The job's audio as encoded bytes, chunk by chunk; closes the job at the end, always."""
    try:
        async for pcm in job.pcm():
            data = encoder.push(post.process(pcm))
            if data:
                yield data
        tail = encoder.push(post.flush()) + encoder.finish()
        if tail:
            yield tail
    finally:
        encoder.close()
        await job.aclose()


async def sse_events(
    job: SynthesisJob, post: PostProcessor, encoder: StreamEncoder, input_chars: int
) -> AsyncIterator[bytes]:
    """OpenAI's speech SSE stream: ``speech.audio.delta`` events, then ``speech.audio.done``."""
    try:
        async for data in encoded_chunks(job, post, encoder):
            event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")}
            yield _sse(event)
        usage = {"input_tokens": input_chars, "output_tokens": job.samples // 2048}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        yield _sse({"type": "speech.audio.done", "usage": usage})
    except Exception as exc:
        log.exception("speech stream failed")
        yield _sse({"type": "error", "error": {"message": str(exc) or type(exc).__name__}})
    finally:
        await job.aclose()


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


async def collect_audio(job: SynthesisJob, request: Request) -> np.ndarray:
    """All of the job's PCM; stops (and frees the slot) at once if the client disconnects."""

    async def gather() -> np.ndarray:
        parts = [pcm async for pcm in job.pcm()]
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)

    try:
        return await until_disconnect(request.receive, gather())
    finally:
        await job.aclose()


async def until_disconnect(receive: Receive, work: Awaitable[np.ndarray]) -> np.ndarray:
    """Await ``work`` unless ``http.disconnect`` arrives first (then cancel it and raise)."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    watcher = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ApiError(499, "client disconnected")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class ManagedStreamingResponse(StreamingResponse):
    """A StreamingResponse that always closes its body iterator and runs ``on_close`` when the
    ASGI call ends, also when the client left before or while the body was sent."""

    def __init__(
        self, content: AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]], **kw: Any
    ) -> None:
        super().__init__(content, **kw)
        self._on_close = on_close
        self.bytes_sent = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                self.bytes_sent += len(message.get("body", b""))
            await send(message)

        try:
            await super().__call__(scope, receive, counting_send)
        finally:
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                await closer()
            await self._on_close()


def audio_headers(encoder: StreamEncoder, request_id: str) -> dict[str, str]:
    return {
        "X-Sample-Rate": str(encoder.out_rate),
        "X-Audio-Format": encoder.fmt,
        "X-Request-Id": request_id,
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }


def build_request(
    text: str,
    references: list[VoiceReference],
    fields: SamplingFields,
    *,
    defaults: SamplingParams | None = None,
    chunk_length: int = DEFAULT_CHUNK_LENGTH,
    first_chunk_frames: int | None = None,
    timeout_s: float | None = None,
) -> SynthesisRequest:
    return SynthesisRequest(
        text=text,
        references=references,
        sampling=sampling_params(fields, defaults),
        seed=fields.seed,
        chunk_length=chunk_length,
        timeout_s=timeout_s,
        first_chunk_frames=first_chunk_frames,
        language=fields.language,
    )


async def audio_response(
    ctx: ServerContext,
    request: Request,
    synth: SynthesisRequest,
    *,
    fmt: str,
    sample_rate: int | None,
    streaming: bool,
    bitrate: int | None = None,
    speed: float = 1.0,
    gain_db: float = 0.0,
    sse: bool = False,
) -> Response:
    """Run ``synth`` and answer with its audio: chunked as made (``streaming``, or SSE events) or
    as one complete file with exact headers."""
    rate = ctx.engine.sample_rate
    try:
        encoder = StreamEncoder(fmt, rate, sample_rate, streaming=streaming or sse, bitrate=bitrate)
        post = PostProcessor(rate, speed=speed, gain_db=gain_db)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    headers = audio_headers(encoder, synth.request_id)
    job = await SynthesisJob.start(ctx, synth)
    if not (streaming or sse):
        pcm = await collect_audio(job, request)
        data = await run_in_threadpool(_encode_whole, encoder, post, pcm)
        ctx.stats.bytes_sent_total += len(data)
        return Response(data, media_type=encoder.content_type, headers=headers)

    stats = ctx.stats
    stats.streams_active += 1

    async def on_close() -> None:
        stats.streams_active -= 1
        stats.bytes_sent_total += response.bytes_sent
        if not job.finished:
            stats.disconnects_total += 1
        await job.aclose()

    if sse:
        body = sse_events(job, post, encoder, len(synth.text))
        response = ManagedStreamingResponse(body, on_close, media_type="text/event-stream", headers=headers)
    else:
        body = encoded_chunks(job, post, encoder)
        response = ManagedStreamingResponse(body, on_close, media_type=encoder.content_type, headers=headers)
    return response


def _encode_whole(encoder: StreamEncoder, post: PostProcessor, pcm: np.ndarray) -> bytes:
    return encoder.push(post.process(pcm)) + encoder.push(post.flush()) + encoder.finish()
