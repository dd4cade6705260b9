"""The engine the server tests run against: the real ``TTSEngine``, recording what it was asked
and what it made.

Nothing is simulated: every request goes through the engine's scheduler, the Dual-AR LM and the
streaming codec of a tiny random checkpoint. ``RecordingEngine`` only listens in, so a test can
check the server against the engine's own output:

* ``calls``: one ``Call`` per accepted request -- the ``SynthesisRequest`` exactly as the server
  built it, every PCM chunk the engine produced for it, and how it ended (``"completed"`` or the
  exception's class name, e.g. ``"RequestCancelledError"``).
* ``encoded``: ``(samples, sample_rate)`` of every ``encode_audio`` call (stored voices, inline
  references the engine encodes itself, ``/v1/vqgan/encode``).
* ``expire_after_first_chunk``: when set, a request that has a deadline has it moved into the past
  as its first chunk is delivered (on the engine's thread), so its timeout falls after exactly one
  chunk whatever the machine's speed -- deadline tests need no wall-clock race.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from s2tts.inference.engine import TTSEngine
from s2tts.inference.session import Session, Sink
from s2tts.inference.types import AudioChunk, SynthesisRequest


@dataclass
class Call:
    """One request the engine accepted, and what it made of it."""

    request: SynthesisRequest
    chunks: list[np.ndarray] = field(default_factory=list)
    outcome: str | None = None

    @property
    def samples(self) -> int:
        return sum(len(c) for c in self.chunks)

    @property
    def pcm(self) -> np.ndarray:
        """All the audio (n,) float32 the engine sent for this request."""
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)


class RecordingEngine(TTSEngine):
    """``TTSEngine`` that records its requests, their audio and its ``encode_audio`` calls."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._record_lock = threading.Lock()
        self.calls: list[Call] = []
        self.encoded: list[tuple[int, int]] = []
        self.expire_after_first_chunk = False

    @property
    def requests(self) -> list[SynthesisRequest]:
        return [c.request for c in self.calls]

    def reset(self) -> None:
        with self._record_lock:
            self.calls.clear()
            self.encoded.clear()

    def submit(
        self, request: SynthesisRequest, sink: Sink, cancelled: threading.Event | None = None
    ) -> Session:
        call = Call(request)
        submitted = threading.Event()
        holder: list[Session] = []
        expire = self.expire_after_first_chunk

        def record(item: AudioChunk | BaseException) -> None:
            if isinstance(item, BaseException):
                call.outcome = type(item).__name__
            else:
                call.chunks.append(item.pcm)
                if item.is_last:
                    call.outcome = "completed"
                elif expire and len(call.chunks) == 1:
                    submitted.wait()  # the session object is known once submit() returned
                    if holder[0].deadline is not None:
                        holder[0].deadline = time.perf_counter() - 1.0
            sink(item)

        session = super().submit(request, record, cancelled)
        holder.append(session)
        submitted.set()
        with self._record_lock:
            self.calls.append(call)
        return session

    def encode_audio(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        with self._record_lock:
            self.encoded.append((int(np.asarray(audio).shape[-1]), int(sample_rate)))
        return super().encode_audio(audio, sample_rate)

    def active(self) -> int:
        """Requests decoding or waiting in the engine now."""
        m = self.metrics()
        return int(m["sessions_active"]) + int(m["queue_depth"])

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is running or queued; False if that took longer than timeout."""
        return self._wait_until(lambda: not self.active(), timeout)

    def wait_audio(self, timeout: float = 5.0) -> bool:
        """Wait until the first request has delivered a chunk; False if that took longer than timeout."""
        return self._wait_until(lambda: bool(self.calls and self.calls[0].chunks), timeout)

    @staticmethod
    def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True
