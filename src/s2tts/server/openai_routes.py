"""``POST /v1/audio/speech``: OpenAI's speech endpoint, with vLLM-Omni / SGLang-Omni extras.

Voices: a stored voice id (or ``{"id": ...}``) clones that voice; ``default`` and OpenAI's built-in
names (alloy, nova, ...) mean the model's own voice, unless a stored voice has that name; any
other id is a 404. ``ref_audio`` (base64 / data URL) + ``ref_text`` or ``references`` clone an
uploaded clip instead. ``instructions`` becomes a leading ``[tag]`` (S2 reads free-form bracketed
instructions). ``pcm`` is 24 kHz by default, as OpenAI's is; ``sample_rate`` overrides.
``stream_format: sse`` answers server-sent events; otherwise the streaming rule of ``/v1/tts``
applies, with ``stream`` in the role of ``streaming``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from s2tts.errors import VoiceNotFoundError
from s2tts.server.bodies import read_body
from s2tts.server.context import ServerContext
from s2tts.server.schemas import OPENAI_VOICES, ReferenceAudio, SpeechRequest
from s2tts.server.synthesis import audio_response, build_request, check_text, resolve_references
from s2tts.server.voices import VoiceIdError

_LENGTH_FREE = ("pcm", "mp3", "opus", "aac")
OPENAI_PCM_RATE = 24000


def build_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter(tags=["openai"])

    async def stored_voice(voice_id: str) -> list[str]:
        """[voice_id] if stored, [] for the built-in names, else 404."""
        try:
            if await run_in_threadpool(ctx.voices.exists, voice_id):
                return [voice_id]
        except VoiceIdError:
            pass
        if voice_id.lower() in OPENAI_VOICES:
            return []
        raise VoiceNotFoundError(f"voice {voice_id[:80]!r} not found")

    @router.post(
        "/v1/audio/speech",
        summary="Text to speech (OpenAI compatible)",
        response_class=Response,
        responses={200: {"content": {"audio/mpeg": {}, "text/event-stream": {}}}},
        openapi_extra={"x-body-model": "SpeechRequest"},
    )
    async def speech(request: Request) -> Response:
        body = SpeechRequest.model_validate(await read_body(request, ctx.settings.max_body_bytes))
        text = check_text(ctx, body.input, "input")
        if body.instructions and body.instructions.strip():
            text = f"[{body.instructions.strip()}] {text}"
        voice_ids = await stored_voice(body.voice_id)
        inline = list(body.references)
        if body.ref_audio:
            inline.append(ReferenceAudio(audio=body.ref_audio, text=body.ref_text or ""))
        references = await resolve_references(ctx, inline, [] if inline else voice_ids)
        synth = build_request(
            text,
            references,
            body,
            defaults=ctx.engine.default_sampling,
            timeout_s=ctx.settings.request_timeout_s,
        )
        fmt = body.response_format
        rate = body.sample_rate if body.sample_rate else (OPENAI_PCM_RATE if fmt == "pcm" else None)
        streaming = body.stream if body.stream is not None else fmt in _LENGTH_FREE
        return await audio_response(
            ctx,
            request,
            synth,
            fmt=fmt,
            sample_rate=rate,
            streaming=streaming,
            speed=body.speed,
            sse=body.stream_format == "sse",
        )

    return router
