"""Request and result types shared by the engine, the server and the CLI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
import torch

from s2tts.inference.params import SamplingParams
from s2tts.text.split import DEFAULT_CHUNK_LENGTH


@dataclass(frozen=True)
class VoiceReference:
    """One reference voice: its transcript plus either codec codes or raw audio.

    codes: (10, T) int64 codec codes; or audio: (n,) or (channels, n) float32 at ``sample_rate``
    (the engine encodes it once and caches the codes by content hash).
    """

    text: str
    codes: torch.Tensor | None = None
    trace: tuple[BatchTrace, ...] | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    voice_id: str | None = None


@dataclass
class SynthesisRequest:
    """One text-to-speech request.

    text may hold ``<|speaker:i|>`` turns and inline ``[tags]``. chunk_length is the UTF-8 byte
    budget of one text batch of the iterative prompt. seed makes the request reproducible whether
    it runs alone or batched. first_chunk_frames / chunk_frames override the engine's streaming
    chunk sizes for this request (None: the engine's defaults). language (ISO 639-1) is what a
    checkpoint's phoneme front end reads the text as (None: its default, English); text models ignore it.
    sampling: None takes the checkpoint's own defaults (its ``sampling.json``, else
    ``DEFAULT_SAMPLING``); build a partial change with ``SamplingParams.from_user(...,
    defaults=engine.default_sampling)``.
    trace: the last chunk also carries what was sampled, text batch by text batch (``BatchTrace``:
    prompts, raw codes, log-probs), as RL rollouts need it. default_voice: a request without
    references is spoken with the checkpoint's default voice when it has one (False: no reference,
    the model picks a voice).
    """

    text: str
    references: list[VoiceReference] = field(default_factory=list)
    sampling: SamplingParams | None = None
    seed: int | None = None
    chunk_length: int = DEFAULT_CHUNK_LENGTH
    timeout_s: float | None = None
    first_chunk_frames: int | None = None
    chunk_frames: int | None = None
    trace: bool = False
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    language: str | None = None
    default_voice: bool = True


@dataclass(frozen=True)
class BatchTrace:
    """What one text batch of a traced request drew.

    prompt: (1+N, L) int64, the batch's whole prompt (system turn, earlier batches with their
    codes, this batch's text); codes: (N, n) int64 as the LM drew them (not clamped to the
    codec); finished: the batch ended with ``<|im_end|>`` (else its frame budget ran out);
    slow_logprobs: (n + finished,) float32, the log-probability of each main token under the
    distribution it was drawn from (the last one ``<|im_end|>``'s when finished); fast_logprobs:
    (n, N - 1) float32, the same for codebooks 1..N-1."""

    prompt: torch.Tensor
    codes: torch.Tensor
    finished: bool
    slow_logprobs: torch.Tensor
    fast_logprobs: torch.Tensor


@dataclass(frozen=True)
class AudioChunk:
    """A piece of streamed audio: pcm (n,) float32 in [-1, 1], mono, at sample_rate.

    codes: (N, t) the codec codes this chunk decodes. The last chunk of a request (``is_last``)
    carries the request's metrics (TTFA, RTF, ...) and, for a traced request, its ``trace``."""

    pcm: np.ndarray
    sample_rate: int
    index: int
    is_last: bool = False
    metrics: dict[str, float | int | str | bool | None] | None = None
    codes: torch.Tensor | None = None
    trace: tuple[BatchTrace, ...] | None = None
