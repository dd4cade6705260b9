"""A stand-in engine with the TTSEngine interface: sine-wave audio, instant, observable.

It lets every server test run without model weights: the server sees the same calls, chunks,
errors and cancellation it will see from the real engine.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import numpy as np
import torch

from s2tts.errors import CodesError, EngineOverloadedError, PromptTooLongError
from s2tts.inference.types import AudioChunk, SynthesisRequest

SR = 44100
FRAME = 2048


def sine(n: int, freq: float = 440.0, rate: int = SR, amp: float = 0.5, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class FakeEngine:
    """Yields ``chunks`` chunks of ``chunk_samples`` samples of a 440 Hz sine per request.

    Text containing ``[toolong]`` raises PromptTooLongError; more than ``max_sessions`` open
    streams raise EngineOverloadedError. ``delay_s`` sleeps before each chunk (for disconnects).
    """

    sample_rate = SR
    num_codebooks = 10

    def __init__(
        self, chunks: int = 4, chunk_samples: int = 4 * FRAME, delay_s: float = 0.0, max_sessions: int = 8
    ):
        self.chunks = chunks
        self.chunk_samples = chunk_samples
        self.delay_s = delay_s
        self.max_sessions = max_sessions
        self.active = 0
        self.requests: list[SynthesisRequest] = []
        self.cancelled = 0
        self.completed = 0
        self.encoded: list[tuple[int, int]] = []
        self.closed = False

    async def stream(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        if self.active >= self.max_sessions:
            raise EngineOverloadedError("engine busy")
        if "[toolong]" in request.text:
            raise PromptTooLongError("prompt does not fit the context")
        self.active += 1
        self.requests.append(request)
        finished = False
        try:
            for i in range(self.chunks):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                pcm = sine(self.chunk_samples, start=i * self.chunk_samples)
                yield AudioChunk(pcm=pcm, sample_rate=SR, index=i, is_last=i == self.chunks - 1)
            finished = True
        finally:
            self.active -= 1
            if finished:
                self.completed += 1
            else:
                self.cancelled += 1

    def synthesize(self, request: SynthesisRequest) -> np.ndarray:
        return sine(self.chunks * self.chunk_samples)

    def encode_audio(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        audio = np.asarray(audio)
        n = audio.shape[-1]
        self.encoded.append((n, sample_rate))
        frames = max(1, math.ceil(n * SR / sample_rate / FRAME))
        return (torch.arange(10 * frames, dtype=torch.int64).reshape(10, frames)) % 4096

    def decode_codes(self, codes: torch.Tensor) -> np.ndarray:
        if codes.ndim != 2 or codes.shape[0] != 10:
            raise CodesError(f"codes must be (10, T), got {tuple(codes.shape)}")
        if int(codes.max()) >= 4096:
            raise CodesError("code out of range")
        return sine(codes.shape[1] * FRAME)

    def metrics(self) -> dict[str, float | int]:
        return {
            "sessions_active": self.active,
            "requests_total": len(self.requests),
            "cancelled_total": self.cancelled,
            "ttfa_seconds_p50": 0.05,
        }

    def close(self) -> None:
        self.closed = True
