"""Per-request state inside the engine: prompt plan, cache slot, sampler row, codec stream."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from s2tts.inference.metrics import RequestMetrics
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import AudioChunk, BatchTrace, SynthesisRequest
from s2tts.text.prompt import IterativePrompt

Sink = Callable[[AudioChunk | BaseException], None]


@dataclass
class Session:
    """One request being served. Owned by the engine thread once admitted.

    row: its slot in the batch (rows 0..B-1 of the decoder's slot table, which also keeps the
    row's cache position, frame budget and stop state). batch_frames: the current text batch's
    counted frames; pending: frames not yet decoded to audio.
    """

    request: SynthesisRequest
    params: SamplingParams  # the request's sampling, or the checkpoint's defaults
    plan: IterativePrompt
    sink: Sink
    metrics: RequestMetrics
    generator: torch.Generator
    first_chunk_frames: int
    chunk_frames: int
    deadline: float | None = None
    row: int = -1
    codec_state: object | None = None
    batch_frames: list[torch.Tensor] = field(default_factory=list)
    pending: list[torch.Tensor] = field(default_factory=list)
    chunks_sent: int = 0
    trace: list[BatchTrace] | None = None  # finished text batches of a traced request
    trace_prompt: torch.Tensor | None = None  # the current batch's prompt and per-frame log-probs
    trace_logprobs: list[torch.Tensor] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def chunk_target(self) -> int:
        """Frames to gather before decoding the next audio chunk (small first, larger later)."""
        return self.first_chunk_frames if self.chunks_sent == 0 else self.chunk_frames

    def trace_batch(self, frames: list[torch.Tensor], num_codebooks: int, eos_logprob: float | None) -> None:
        """Close the current text batch of a traced request: frames (N,) each, their per-frame
        log-probs (N,) gathered in ``trace_logprobs``; ``eos_logprob`` when ``<|im_end|>`` ended it."""
        if self.trace is None or self.trace_prompt is None:
            return
        lp = torch.stack(self.trace_logprobs) if self.trace_logprobs else torch.zeros(0, num_codebooks)
        slow = lp[:, 0]
        if eos_logprob is not None:
            slow = torch.cat([slow, torch.tensor([eos_logprob], dtype=slow.dtype)])
        codes = torch.stack(frames, dim=1) if frames else torch.zeros(num_codebooks, 0, dtype=torch.long)
        self.trace.append(BatchTrace(self.trace_prompt, codes, eos_logprob is not None, slow, lp[:, 1:]))
        self.trace_prompt, self.trace_logprobs = None, []

    def cancel(self) -> None:
        self.cancelled.set()
