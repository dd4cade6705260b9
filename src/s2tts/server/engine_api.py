"""What the server needs from an engine: a structural type, so the server imports no model code.

``s2tts.inference.engine.TTSEngine`` satisfies it (the server tests run it on a tiny random checkpoint).
``stream`` is an async generator: closing it (``aclose``, or the consumer going away) cancels the
session and frees its slot. The other calls block and are run in worker threads by the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from s2tts.inference.params import SamplingParams
from s2tts.inference.types import AudioChunk, SynthesisRequest


@runtime_checkable
class Engine(Protocol):
    sample_rate: int
    frame_length: int  # samples per codec frame
    num_codebooks: int
    random_weights: bool  # a random checkpoint (random_init.json): its audio is noise
    default_sampling: SamplingParams  # what fields a request leaves out take (the model's sampling.json)

    def stream(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]: ...

    def synthesize(self, request: SynthesisRequest) -> np.ndarray: ...

    def encode_audio(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor: ...

    def decode_codes(self, codes: torch.Tensor) -> np.ndarray: ...

    def metrics(self) -> dict[str, float | int]: ...

    def close(self) -> None: ...
