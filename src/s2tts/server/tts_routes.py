"""``POST /v1/tts``: fish-speech / fish.audio text-to-speech (JSON, msgpack or form bodies).

Streaming rule: ``streaming: true`` sends audio chunked as it is made in every format (wav with an
open-ended header); ``false`` sends one complete file; unset (the fish.audio SDK never sets it)
streams the formats whose bytes do not depend on the total length (pcm, mp3, opus, aac) and sends
wav / flac complete, so their headers hold exact lengths.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from s2tts.server.bodies import read_body
from s2tts.server.context import ServerContext
from s2tts.server.schemas import ServeTTSRequest
from s2tts.server.synthesis import (
    audio_response,
    build_request,
    check_text,
    latency_frames,
    resolve_references,
)
from s2tts.text.normalize import normalize_text

_LENGTH_FREE = ("pcm", "mp3", "opus", "aac")


def build_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter(tags=["tts"])

    @router.post(
        "/v1/tts",
        summary="Text to speech (fish-speech / fish.audio compatible)",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}, "audio/mpeg": {}, "audio/ogg": {}, "audio/pcm": {}}}},
        openapi_extra={"x-body-model": "ServeTTSRequest"},
    )
    async def tts(request: Request) -> Response:
        body = ServeTTSRequest.model_validate(await read_body(request, ctx.settings.max_body_bytes))
        text = check_text(ctx, body.text)
        if body.normalize:  # the reference accepts this flag and ignores it; we even out typography
            text = normalize_text(text)
        ids = [body.reference_id] if isinstance(body.reference_id, str) else list(body.reference_id or [])
        references = await resolve_references(ctx, body.references, ids)
        synth = build_request(
            text,
            references,
            body,
            defaults=ctx.engine.default_sampling,
            chunk_length=body.chunk_length,
            first_chunk_frames=latency_frames(ctx, body.latency),
            timeout_s=ctx.settings.request_timeout_s,
        )
        streaming = body.streaming if body.streaming is not None else body.format in _LENGTH_FREE
        bitrate = None
        if body.format == "mp3":
            bitrate = body.mp3_bitrate * 1000
        elif body.format == "opus" and body.opus_bitrate > 0:
            bitrate = body.opus_bitrate * 1000
        prosody = body.prosody
        return await audio_response(
            ctx,
            request,
            synth,
            fmt=body.format,
            sample_rate=body.sample_rate,
            streaming=streaming,
            bitrate=bitrate,
            speed=prosody.speed if prosody else 1.0,
            gain_db=prosody.volume if prosody else 0.0,
        )

    return router
