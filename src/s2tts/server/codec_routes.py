"""``/v1/vqgan/encode`` and ``/v1/vqgan/decode``: the codec alone (fish-speech's names and bodies).

encode: ``{"audios": [file bytes]}`` -> ``{"tokens": [codes (K, T) as nested lists]}``.
decode: ``{"tokens": [codes (K, T)]}`` -> ``{"audios": [float16 little-endian PCM bytes],
"sample_rate": n}``. Answers are msgpack (JSON with ``Accept: application/json``). Both take an
engine slot like synthesis does. Unlike the reference server's decode, this one works. Each request
holds at most ``max_codec_seconds`` of audio in all (413 otherwise), checked before any work starts.
"""

from __future__ import annotations

import numpy as np
import torch
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from s2tts.errors import AudioTooLongError, CodesError
from s2tts.server.audio_input import decode_audio
from s2tts.server.bodies import packed, read_body
from s2tts.server.context import ServerContext
from s2tts.server.http_errors import ApiError
from s2tts.server.schemas import VQGANDecodeRequest, VQGANEncodeRequest


def codes_tensor(rows: list[list[int]], num_codebooks: int) -> torch.Tensor:
    """Nested lists (K, T) -> int64 tensor, checked for shape (CodesError otherwise)."""
    if len(rows) != num_codebooks:
        raise CodesError(f"codes must have {num_codebooks} rows (codebooks), got {len(rows)}")
    lengths = {len(r) for r in rows}
    if len(lengths) != 1 or 0 in lengths:
        raise CodesError("codes rows must be non-empty and of equal length")
    try:
        arr = np.asarray(rows, dtype=np.int64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise CodesError(f"codes must be integers: {exc}") from exc
    if arr.min() < 0:
        raise CodesError("codes must be non-negative")
    return torch.from_numpy(arr)


def build_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter(tags=["codec"])
    engine = ctx.engine

    @router.post(
        "/v1/vqgan/encode",
        summary="Audio files to codec codes",
        openapi_extra={"x-body-model": "VQGANEncodeRequest"},
    )
    async def encode(request: Request) -> Response:
        body = VQGANEncodeRequest.model_validate(await read_body(request, ctx.settings.max_body_bytes))
        cap = ctx.settings.max_codec_seconds
        decoded = []
        left = cap
        for i, audio in enumerate(body.audios):  # all decoded and checked before a slot is taken
            pcm, rate = await run_in_threadpool(decode_audio, audio, left, f"audios[{i}]")
            left -= len(pcm) / rate
            if left < 0:
                raise AudioTooLongError(f"the audios of one request are longer than {cap:g} s in all")
            decoded.append((pcm, rate))
        slot = await ctx.limiter.acquire()
        try:
            tokens = []
            for pcm, rate in decoded:
                codes = await run_in_threadpool(engine.encode_audio, pcm, rate)
                tokens.append(codes.detach().cpu().to(torch.int64).tolist())
        finally:
            slot.release()
        return packed(request, {"tokens": tokens})

    @router.post(
        "/v1/vqgan/decode",
        summary="Codec codes to audio",
        openapi_extra={"x-body-model": "VQGANDecodeRequest"},
    )
    async def decode(request: Request) -> Response:
        body = VQGANDecodeRequest.model_validate(await read_body(request, ctx.settings.max_body_bytes))
        frame_rate = engine.frame_rate
        max_frames = int(ctx.settings.max_codec_seconds * frame_rate)
        total = sum(len(item[0]) if item else 0 for item in body.tokens)
        if total > max_frames:
            raise ApiError(
                413,
                f"codes of {total} frames ({total / frame_rate:.1f} s) in one request; the limit is "
                f"{max_frames} frames ({ctx.settings.max_codec_seconds:g} s)",
            )
        tensors = [codes_tensor(item, engine.num_codebooks) for item in body.tokens]
        slot = await ctx.limiter.acquire()
        try:
            audios = []
            for codes in tensors:
                pcm = await run_in_threadpool(engine.decode_codes, codes)
                audios.append(np.asarray(pcm, dtype="<f2").tobytes())
        finally:
            slot.release()
        return packed(request, {"audios": audios, "sample_rate": engine.sample_rate})

    return router
