"""TTSEngine: continuous batching of synthesis requests with streaming audio out.

One engine owns the LM, the codec, the KV caches and a scheduler thread::

    submit ─► waiting queue ─► admit (slot, prefix cache, prefill) ─► running batch
    running batch, every frame:  Decoder.frame (all rows: sampling, fast AR, slow step)
                                 ─► rows with a chunk due: one batched codec decode_step
                                 ─► AudioChunk to each request's consumer
                                 finished rows leave, new ones join between frames.

* The slot table: ``_slots[b]`` is the session in row b; the ``Decoder`` (``decoder.py``) holds
  that row's cache row, sampling settings, generator, hidden state and stepping state (position,
  frame budget, frames counted). A leaving row is replaced by the last one (``_release`` moves
  all of it in one call), so the batch stays dense.
* One stepper: positions, the frame budget and the ``<|im_end|>``/budget stop are the
  ``Decoder``'s (``Decoder.step``), the same rules ``generate_*`` run on; the engine adds only
  what serving needs (text batches, chunks, cancellation, deadlines).
* Each session has its own ``torch.Generator`` and its noise is drawn from it alone, so a seeded
  request gives the same codes alone or batched.
* ``compile=True`` compiles the whole decode frame and warms every batch/length bucket before
  the engine accepts work, so serving never compiles.
* A request without references is spoken with the checkpoint's default voice (``voice.json``,
  the packaged model has one) unless it sets ``default_voice=False``.
* Reference audio is encoded once (``VoiceCache``); the keys/values of a system prompt with its
  reference voices are kept (``PrefixCache``), so a repeated voice prefills only the new text.
* Long text runs batch after batch (``IterativePrompt``) inside one session: the cache keeps
  the previous batches and only the new columns are prefilled.
* Limits: ``max_sessions`` rows decode at once, ``max_queue`` wait; beyond that ``submit``
  raises ``EngineOverloadedError``. Cancelled sessions leave at the next frame.
* ``threaded=False``: no scheduler thread; the caller drives the same scheduler with
  :meth:`TTSEngine.step` (RL rollouts do: deterministic admission, nothing runs concurrently
  with training). A traced request (``SynthesisRequest.trace``) gets what it sampled -- each text
  batch's prompt, raw codes and sampling log-probs -- on its last chunk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from s2tts.checkpoint import S2Checkpoint
from s2tts.errors import (
    AudioError,
    EngineError,
    EngineOverloadedError,
    PromptError,
    PromptTooLongError,
    RequestCancelledError,
    RequestTimeoutError,
    S2TTSError,
)
from s2tts.inference.audio_stream import AudioStreams
from s2tts.inference.caches import Prefix, PrefixCache, VoiceCache, audio_key, prompt_key
from s2tts.inference.decoder import Decoder
from s2tts.inference.generate import stack_frames
from s2tts.inference.metrics import EngineStats, RequestMetrics
from s2tts.inference.params import SamplingParams
from s2tts.inference.session import Session, Sink
from s2tts.inference.types import AudioChunk, SynthesisRequest, VoiceReference
from s2tts.text.prompt import IterativePrompt, Reference, too_long_hint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    """Engine knobs.

    max_sessions: rows decoded together (cache slots). max_queue: requests allowed to wait.
    max_seq_len: positions per cache slot (None: the model's context). first_chunk_frames /
    chunk_frames: frames per audio chunk (small first chunk = low time to first audio).
    prefix_cache_mb / voice_cache_entries: cache bounds. compile: torch.compile the whole decode
    frame (CUDA graphs on CUDA), every bucket compiled when the engine starts. max_text_chars: longest accepted text.
    max_prefills_per_step: new requests admitted between two frames, so a burst of arrivals
    does not stall the audio of requests already streaming. threaded: run the scheduler in its
    own thread (False: the caller drives it with ``step``).
    """

    max_sessions: int = 8
    max_queue: int = 64
    max_seq_len: int | None = 4096
    first_chunk_frames: int = 2
    chunk_frames: int = 8
    prefix_cache_mb: int = 256
    voice_cache_entries: int = 256
    compile: bool = False
    max_text_chars: int = 20_000
    default_timeout_s: float | None = None
    max_prefills_per_step: int = 4
    threaded: bool = True

    def __post_init__(self) -> None:
        if self.max_sessions < 1 or self.max_queue < 0:
            raise EngineError("max_sessions must be >= 1 and max_queue >= 0")
        if self.first_chunk_frames < 1 or self.chunk_frames < 1:
            raise EngineError("chunk sizes must be >= 1 frame")
        if self.max_prefills_per_step < 1:
            raise EngineError("max_prefills_per_step must be >= 1")


class TTSEngine:
    """Serve many concurrent synthesis requests on one Dual-AR model and one codec."""

    def __init__(self, checkpoint: S2Checkpoint, codec, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.codec = codec
        self.builder = checkpoint.prompt_builder()
        model_cfg = self.model.config
        self.num_codebooks = model_cfg.num_codebooks
        self.sample_rate = int(codec.sample_rate)
        self.frame_length = int(codec.frame_length)
        self.frame_rate = self.sample_rate / self.frame_length
        self.device = self.model.slow.embeddings.weight.device
        cache_len = min(self.config.max_seq_len or model_cfg.slow.max_seq_len, model_cfg.slow.max_seq_len)
        self.decoder = Decoder(self.model, self.config.max_sessions, cache_len, compile=self.config.compile)
        if self.config.compile:
            with torch.inference_mode():
                self.decoder.warmup()
        self.audio = AudioStreams(codec)
        self.voices = VoiceCache(self.config.voice_cache_entries)
        self.prefixes = PrefixCache(self.config.prefix_cache_mb * 1024 * 1024)
        self.stats = EngineStats()
        self._slots: list[Session] = []  # row b of the batch is _slots[b]
        self._waiting: deque[Session] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        if self.config.threaded:
            self._thread = threading.Thread(target=self._run, name="s2tts-engine", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ public API
    @property
    def cache_len(self) -> int:
        return self.decoder.cache_len

    @property
    def default_sampling(self) -> SamplingParams:
        """What a request without ``sampling`` gets: the checkpoint's ``sampling.json``, else
        ``DEFAULT_SAMPLING``."""
        return self.checkpoint.sampling

    @property
    def random_weights(self) -> bool:
        """The checkpoint is a random one (``random_init.json``): its audio is noise."""
        return self.checkpoint.random_weights

    def encode_audio(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        """Reference audio (n,) or (channels, n) -> codes (N, T) int64, cached by content hash."""
        audio = np.asarray(audio, dtype=np.float32)
        key = audio_key(audio, sample_rate)

        def encode() -> torch.Tensor:
            with torch.inference_mode():
                codes, lengths = self.codec.encode(audio, sample_rate)
            return codes[0, :, : int(lengths[0])].to(torch.long).cpu()

        return self.voices.get_or_encode(key, encode)

    def decode_codes(self, codes: torch.Tensor) -> np.ndarray:
        """codes (N, T) -> audio (T * frame_length,) float32."""
        with torch.inference_mode():
            audio = self.codec.decode(torch.as_tensor(codes, dtype=torch.long)[None])
        return audio[0, 0].float().cpu().numpy()

    def submit(
        self, request: SynthesisRequest, sink: Sink, cancelled: threading.Event | None = None
    ) -> Session:
        """Queue a request; ``sink`` receives AudioChunks (the last has is_last) or one exception.

        Raises PromptError/AudioError for bad input and EngineOverloadedError when the queue is
        full -- before anything is queued. ``cancelled``, when given, becomes the session's cancel
        flag (so a caller can cancel before submit even returns)."""
        session = self._prepare(request, sink)
        if cancelled is not None:
            session.cancelled = cancelled
        with self._cond:
            if self._stop:
                raise EngineError("engine is closed")
            free_slots = max(0, self.config.max_sessions - len(self._slots))
            if len(self._waiting) >= self.config.max_queue + free_slots:
                self.stats.incr("requests_rejected_total")
                raise EngineOverloadedError(
                    f"engine is at capacity ({len(self._slots)} running, {len(self._waiting)} queued)"
                )
            self._waiting.append(session)
            self.stats.incr("requests_total")
            self._cond.notify()
        return session

    def iter_stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Blocking stream of AudioChunks; closing the iterator cancels the request."""
        items: queue.Queue[AudioChunk | BaseException] = queue.Queue()
        session = self.submit(request, items.put)
        try:
            while True:
                item = items.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.is_last:
                    return
        finally:
            self._abandon(session)

    async def stream(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        """Async stream of AudioChunks; closing it (or the consumer going away) cancels the request."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[AudioChunk | BaseException] = asyncio.Queue()

        def sink(item: AudioChunk | BaseException) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        cancelled = threading.Event()
        try:
            session = await asyncio.to_thread(self.submit, request, sink, cancelled)
        except asyncio.CancelledError:
            # submit may still complete in its thread: the flag makes the engine drop the request.
            cancelled.set()
            self._wake()
            raise
        try:
            while True:
                item = await items.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.is_last:
                    return
        finally:
            self._abandon(session)

    def _abandon(self, session: Session) -> None:
        """A consumer stopped reading: cancel its request unless it has finished."""
        if not session.finished.is_set():
            session.cancel()
            self._wake()

    def synthesize(self, request: SynthesisRequest) -> np.ndarray:
        """Blocking: the whole audio (n,) float32."""
        parts = [chunk.pcm for chunk in self.iter_stream(request)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def metrics(self) -> dict[str, float | int]:
        out = self.stats.snapshot()
        with self._cond:
            out["sessions_active"] = len(self._slots)
            out["queue_depth"] = len(self._waiting)
        out["max_sessions"] = self.config.max_sessions
        out["prefix_cache_hits_total"] = self.prefixes.hits
        out["prefix_cache_misses_total"] = self.prefixes.misses
        out["prefix_cache_entries"] = len(self.prefixes)
        out["voice_cache_hits_total"] = self.voices.hits
        out["voice_cache_misses_total"] = self.voices.misses
        return out

    def step(self) -> bool:
        """One scheduler iteration in the caller's thread, for an engine made with
        ``threaded=False``: admit waiting requests, decode one frame for every running row.
        Returns whether requests remain (``while engine.step(): pass`` serves all of them)."""
        if self._thread is not None:
            raise EngineError("this engine runs its own scheduler thread; step() is for threaded=False")
        if self._stop:
            raise EngineError("engine is closed")
        with torch.inference_mode():
            self._iterate()
        with self._cond:
            return bool(self._slots or self._waiting)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        else:
            self._fail_remaining()

    def __enter__(self) -> TTSEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ preparation (caller thread)
    def _references(self, refs: list[VoiceReference]) -> list[Reference]:
        out = []
        for i, ref in enumerate(refs):
            if ref.codes is not None:
                codes = torch.as_tensor(ref.codes, dtype=torch.long)
            elif ref.audio is not None:
                if not ref.sample_rate:
                    raise AudioError(f"reference {i}: audio needs a sample_rate")
                codes = self.encode_audio(ref.audio, ref.sample_rate)
            else:
                raise PromptError(f"reference {i} has neither codes nor audio")
            out.append(Reference(ref.text, codes))
        return out

    def _prepare(self, request: SynthesisRequest, sink: Sink) -> Session:
        text = request.text
        if not isinstance(text, str) or not text.strip():
            raise PromptError("text is empty")
        if len(text) > self.config.max_text_chars:
            raise PromptError(f"text has {len(text)} characters; the limit is {self.config.max_text_chars}")
        if request.chunk_length < 1:
            raise PromptError("chunk_length must be >= 1")
        params = request.sampling or self.checkpoint.sampling
        references = self._references(request.references)
        if not references and request.default_voice and self.checkpoint.default_voice is not None:
            references = [self.checkpoint.default_voice]
        plan = IterativePrompt(
            self.builder,
            text,
            references,
            request.chunk_length,
            max_len=self._prompt_limit(params),
            language=request.language,
        )
        first = plan.next_prompt()
        if first.shape[1] >= self.cache_len:
            raise PromptTooLongError(
                f"prompt of {first.shape[1]} tokens does not fit the engine's context of {self.cache_len}; "
                + too_long_hint(plan.prefix_len, self.cache_len)
            )
        seed = request.seed if request.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
        generator = torch.Generator(device=self.device).manual_seed(seed)
        timeout = request.timeout_s if request.timeout_s is not None else self.config.default_timeout_s
        now = time.perf_counter()
        return Session(
            request=request,
            params=params,
            plan=plan,
            sink=sink,
            metrics=RequestMetrics(request.request_id, submitted=now),
            generator=generator,
            first_chunk_frames=request.first_chunk_frames or self.config.first_chunk_frames,
            chunk_frames=request.chunk_frames or self.config.chunk_frames,
            deadline=None if timeout is None else now + timeout,
            trace=[] if request.trace else None,
        )

    def _prompt_limit(self, params: SamplingParams) -> int:
        """Target length of a text batch's prompt: the cache less room to generate (half the cache at
        most); longer ones leave out their oldest earlier batches (``IterativePrompt``)."""
        steps = params.max_new_tokens
        room = min(self.cache_len // 2, steps if steps > 0 else self.cache_len)
        limit = self.cache_len - room
        return limit if self.builder.max_prompt_len is None else min(limit, self.builder.max_prompt_len)

    # ------------------------------------------------------------------ scheduler (engine thread)
    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._stop and not self._slots and not self._waiting:
                        self._cond.wait()
                    if self._stop:
                        break
                self._iterate()
        self._fail_remaining()

    def _iterate(self) -> None:
        try:
            self._drop_cancelled()
            self._admit()
            if self._slots:
                self._decode_step()
        except Exception as exc:  # a bug: fail the running requests, keep serving
            log.exception("engine step failed")
            for s in list(reversed(self._slots)):
                self._fail(s, EngineError(f"internal engine error: {exc}"))

    def _fail_remaining(self) -> None:
        for s in self._slots + list(self._waiting):
            _deliver(s, EngineError("engine closed"))
            s.finished.set()
        self._slots.clear()
        self._waiting.clear()

    def _admit(self) -> None:
        admitted = 0
        while len(self._slots) < self.config.max_sessions and admitted < self.config.max_prefills_per_step:
            with self._cond:  # waiting -> active in one step, so submit() counts it exactly once
                if not self._waiting:
                    return
                session = self._waiting.popleft()
                cancelled = session.cancelled.is_set()
                if not cancelled:
                    session.row = len(self._slots)
                    self._slots.append(session)
            if cancelled:
                self._finish_cancelled(session)
                continue
            admitted += 1
            self.decoder.open(session.row, session.params, session.generator)
            session.metrics.started = time.perf_counter()
            try:
                self._start_first_batch(session)
            except S2TTSError as exc:
                self._fail(session, exc)

    def _start_first_batch(self, s: Session) -> None:
        system = s.plan.system
        key = prompt_key(system)
        prefix = self.prefixes.get(key)
        if prefix is not None:
            self.decoder.load_prefix(s.row, prefix.k, prefix.v)
            s.metrics.prefix_cache_hit = True
            self.stats.incr("prefix_cache_reused_tokens_total", prefix.length)
        else:
            hidden = self.decoder.prefill(s.row, system, 0)
            s.metrics.prefill_tokens += system.shape[1]
            k, v = self.decoder.slow_cache.read_prefix(s.row, system.shape[1])
            self.prefixes.put(key, Prefix(k, v, hidden))
        s.codec_state = self.audio.open()
        self._start_batch(s)

    def _start_batch(self, s: Session) -> None:
        """Prefill the current text batch's new columns (the cache holds everything before)."""
        prompt = s.plan.next_prompt()
        length = prompt.shape[1]
        if length >= self.cache_len:
            raise PromptTooLongError(
                f"text batch {s.plan.batch_index + 1}: prompt of {length} tokens does not fit the context "
                f"of {self.cache_len}; " + too_long_hint(s.plan.prefix_len, self.cache_len)
            )
        # The cache holds the earlier batches up to the row's position; the prompt repeats them
        # (and earlier batches may have left it), so prefill starts where both still agree.
        start = min(self.decoder.position(s.row), s.plan.reusable_len)
        new = prompt[:, start:]
        self.decoder.prefill(s.row, new, start)
        s.metrics.prefill_tokens += new.shape[1]
        self.stats.incr("prefill_tokens_total", new.shape[1])
        if s.trace is not None:
            s.trace_prompt = prompt
        s.batch_frames = []
        limit = s.plan.frame_limit()
        if self.decoder.start(s.row, limit) <= 0:
            raise PromptTooLongError(f"no room left to generate after a prompt of {length} tokens")

    def _decode_step(self) -> None:
        slots = list(self._slots)  # rows as decoded; self._slots changes as sessions leave
        # The decoder steps every row at its position and applies the stop rule (budget, <|im_end|>).
        step = self.decoder.step(len(slots))
        codes = step.frame.codes.cpu()
        logprobs = step.frame.logprobs.float().cpu() if any(s.trace is not None for s in slots) else None
        self.stats.step(len(slots), self.config.max_sessions)
        self.stats.incr("frames_total", len(slots))
        due: list[Session] = []
        new_batch: list[Session] = []
        ended: list[Session] = []
        now = time.perf_counter()
        for b, s in enumerate(slots):
            if s.cancelled.is_set() or (s.deadline is not None and now > s.deadline):
                ended.append(s)
                continue
            if step.counted[b]:
                frame = codes[b]
                s.batch_frames.append(frame)
                s.pending.append(frame)
                s.metrics.frames += 1
                if s.trace is not None and logprobs is not None:
                    s.trace_logprobs.append(logprobs[b])
                if len(s.pending) >= s.chunk_target():
                    due.append(s)
            if step.ended[b]:
                if s.trace is not None and logprobs is not None:
                    eos_lp = float(logprobs[b, 0]) if step.stopped_by_eos(b) else None
                    s.trace_batch(s.batch_frames, self.num_codebooks, eos_lp)
                s.plan.add_codes(stack_frames(s.batch_frames, self.num_codebooks))
                (ended if s.plan.done else new_batch).append(s)
        self._emit(due, last=False)
        self._end_all(ended)
        for s in new_batch:
            try:
                self._start_batch(s)
            except S2TTSError as exc:
                self._fail(s, exc)

    # ------------------------------------------------------------------ leaving
    def _emit(self, sessions: list[Session], last: bool) -> None:
        """Decode the pending frames of these sessions in one batched codec call and send each
        its chunk (with ``last``, also sessions with nothing pending: an empty final chunk)."""
        todo = [s for s in sessions if s.pending]
        decoded = self.audio.decode([(s.codec_state, torch.stack(s.pending, 1)) for s in todo])
        audio_of = {}
        for s, (audio, state) in zip(todo, decoded, strict=True):
            s.codec_state = state
            audio_of[id(s)] = (audio, self.codec.clamp_codes(torch.stack(s.pending, 1)))
            s.metrics.audio_seconds += audio.shape[0] / self.sample_rate
            s.pending = []
        for s in sessions:
            audio, codes = audio_of.get(id(s), (np.zeros(0, dtype=np.float32), None))
            if codes is None and not last:
                continue
            if s.metrics.first_audio is None and audio.size:
                s.metrics.first_audio = time.perf_counter()
            metrics = None
            if last:
                s.metrics.finished = time.perf_counter()
                metrics = s.metrics.to_dict()
            trace = tuple(s.trace) if last and s.trace is not None else None
            chunk = AudioChunk(
                audio,
                self.sample_rate,
                s.chunks_sent,
                is_last=last,
                metrics=metrics,
                codes=codes,
                trace=trace,
            )
            _deliver(s, chunk)
            s.chunks_sent += 1

    def _end_all(self, sessions: list[Session]) -> None:
        """End these sessions (highest row first, so compaction moves only live rows); the
        completed ones get their final chunks from one batched decode."""
        completed = []
        for s in sorted(sessions, key=lambda x: x.row, reverse=True):
            if self._end(s):
                completed.append(s)
        self._emit(completed, last=True)
        for s in completed:
            self.stats.finish(s.metrics)
            s.finished.set()

    def _end(self, s: Session) -> bool:
        """Remove a session whose text is done, or that was cancelled / timed out. Returns True
        for a completed one: the caller sends its last chunk and sets ``finished``."""
        if s.cancelled.is_set():
            self.stats.incr("requests_cancelled_total")
            self._release(s)
            _deliver(s, RequestCancelledError("request cancelled"))
        elif s.deadline is not None and time.perf_counter() > s.deadline and not s.plan.done:
            self.stats.incr("requests_timed_out_total")
            self._release(s)
            _deliver(s, RequestTimeoutError(f"request {s.request_id} exceeded its timeout"))
        else:
            self._release(s)  # the slot is free before the consumer sees the last chunk
            self.stats.incr("requests_completed_total")
            return True
        s.finished.set()
        return False

    def _fail(self, s: Session, exc: BaseException) -> None:
        self.stats.incr("requests_failed_total")
        if s.row >= 0 and s in self._slots:
            self._release(s)
        _deliver(s, exc)
        s.finished.set()

    def _finish_cancelled(self, s: Session) -> None:
        self.stats.incr("requests_cancelled_total")
        _deliver(s, RequestCancelledError("request cancelled"))
        s.finished.set()

    def _drop_cancelled(self) -> None:
        now = time.perf_counter()
        self._end_all(
            [s for s in self._slots if s.cancelled.is_set() or (s.deadline is not None and now > s.deadline)]
        )

    def _release(self, s: Session) -> None:
        """Free s's row: the last row moves into it (session, cache row, sampling state), keeping
        rows dense."""
        row, last = s.row, len(self._slots) - 1
        if row != last:
            mover = self._slots[last]
            self.decoder.move(last, row)
            self._slots[row] = mover
            mover.row = row
        self._slots.pop()
        s.row = -1


def _deliver(s: Session, item: AudioChunk | BaseException) -> None:
    """Hand an item to the consumer; a consumer that fails (e.g. its event loop is gone) only
    cancels its own request, never the engine thread."""
    try:
        s.sink(item)
    except Exception:  # the consumer's failure, not the engine's
        log.warning("request %s: consumer failed to take a chunk; cancelling it", s.request_id, exc_info=True)
        s.cancel()
