"""Rollouts: G sampled outputs per prompt through the serving engine's scheduler, with audio.

The samples run through :class:`s2tts.inference.engine.TTSEngine` itself -- the same slot table,
``Decoder`` and ``decode_frame`` as serving, driven from the trainer's thread
(``threaded=False``): every sample of every prompt is queued at once, ``batch_size`` rows decode
together, a row that finishes is refilled with the next waiting sample (continuous batching),
the samples of one prompt share its system prompt's KV prefix, long and multi-speaker texts run
text batch after text batch (the iterative prompt of ``s2tts.text``), and the engine decodes each
sample's audio once, batched, when it ends. Each sample has its own seed from (run seed, step,
prompt, sample), so any rollout can be regenerated alone and comes out the same batched or not.

A traced request gets, per text batch, its prompt (1+N, L), the codes the LM drew (N, n) and the
log-probability of every token under the distribution it was drawn from: the *sampling*
log-probs (the behaviour policy of the importance ratio). For RL the sampler is the policy: by
default the whole distribution at ``temperature`` (no top-k/top-p, no repetition-aware redraw),
which ``logprobs.rollout_logprobs`` recomputes with gradients; narrowing the sampler
(``top_k``/``top_p``) is allowed and off-policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2tts.checkpoint import S2Checkpoint
from s2tts.errors import S2TTSError, TrainConfigError, TrainingDataError
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import AudioChunk, BatchTrace, SynthesisRequest, VoiceReference
from s2tts.models.codec import Codec
from s2tts.models.dual_ar import DualARTransformer
from s2tts.text.frontend import TextFrontend
from s2tts.text.prompt import Reference
from s2tts.text.split import DEFAULT_CHUNK_LENGTH
from s2tts.text.tokenizer import S2Tokenizer

NO_CHUNKING = 1 << 30  # frames per audio chunk: a rollout's audio is decoded once, when it ends


@dataclass(frozen=True)
class RLPrompt:
    """One training prompt: text (may hold speaker turns and [tags]), voice references (codes for
    the prompt; ``reference_audio`` the first voice for the similarity reward, ``voices`` every
    voice as (mono audio, rate) in ``<|speaker:i|>`` order for a dialogue's speaker check),
    language and free-form request metadata."""

    text: str
    references: tuple[Reference, ...] = ()
    reference_audio: np.ndarray | None = None
    reference_rate: int | None = None
    language: str = "en"
    request: dict[str, Any] = field(default_factory=dict)
    voices: tuple[tuple[np.ndarray, int], ...] = ()


@dataclass(frozen=True)
class RolloutConfig:
    """group_size: G; top_k 0 = no top-k; max_new_tokens: frame budget of a text batch + 1 (the
    prefill step); batch_size: rows decoded together (the engine's slots; more samples wait and
    fill rows as they free up); chunk_length: UTF-8 bytes of one text batch of the iterative
    prompt (longer texts run as several batches)."""

    group_size: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    min_new_tokens: int = 0
    batch_size: int = 8
    chunk_length: int = DEFAULT_CHUNK_LENGTH

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise TrainConfigError("rollout.group_size must be >= 2 (advantages compare samples of a group)")
        if self.max_new_tokens < 2:
            raise TrainConfigError("rollout.max_new_tokens must be >= 2")
        if self.batch_size < 1 or self.chunk_length < 1:
            raise TrainConfigError("rollout.batch_size and rollout.chunk_length must be >= 1")

    def sampling(self, codebook_size: int) -> SamplingParams:
        top_k = self.top_k if self.top_k > 0 else codebook_size + 1  # all semantic tokens + im_end
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=top_k,
            max_new_tokens=self.max_new_tokens,
            min_new_tokens=self.min_new_tokens,
            use_ras=False,
        )


@dataclass
class Rollout:
    """One sample: its text batches (``BatchTrace``: prompt (1+N, L_k), codes (N, n_k), finished,
    sampling log-probs) and its audio (mono float32 at the codec's rate). A short text is one
    batch; batch k's prompt holds batches 0..k-1 with their codes."""

    prompt_index: int
    sample_index: int
    seed: int
    batches: tuple[BatchTrace, ...]
    audio: np.ndarray | None = None

    @property
    def codes(self) -> torch.Tensor:
        """(N, n) all frames, batch after batch."""
        return torch.cat([b.codes for b in self.batches], dim=1)

    @property
    def frames(self) -> int:
        return sum(int(b.codes.shape[1]) for b in self.batches)

    @property
    def finished(self) -> bool:
        """Every text batch ended with ``<|im_end|>`` (none was cut by its frame budget)."""
        return all(b.finished for b in self.batches)


def rollout_seed(base: int, step: int, prompt_index: int, sample_index: int) -> int:
    """A 63-bit seed from the four integers (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{base}:{step}:{prompt_index}:{sample_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class RolloutJob:
    """One sample to draw: which prompt and sample it is (sample -1: the untagged baseline of a
    tagged prompt), its text, voices and seed."""

    prompt_index: int
    sample_index: int
    text: str
    references: tuple[Reference, ...]
    seed: int
    language: str = "en"


class RolloutSampler:
    """Draws rollouts of ``model`` (its current weights) through a :class:`TTSEngine` made per
    call, so the engine sees the weights of the moment and holds no cache between steps.

    default_voice: the reference a prompt without one is spoken with (a checkpoint's
    ``voice.json``), as the served model speaks such requests; None: the model's own choice."""

    def __init__(
        self,
        model: DualARTransformer,
        tokenizer: S2Tokenizer,
        codec: Codec,
        cfg: RolloutConfig,
        max_seq_len: int | None = None,
        default_voice: Reference | None = None,
    ) -> None:
        self.default_voice = default_voice
        self.model = model
        self.tokenizer = tokenizer
        self.codec = codec
        self.cfg = cfg
        self.max_seq_len = max_seq_len or model.config.slow.max_seq_len
        self.sample_rate = int(codec.sample_rate)

    def sampling(self) -> SamplingParams:
        return self.cfg.sampling(self.model.config.codebook_size)

    def run(
        self, jobs: Sequence[RolloutJob], on_done: Callable[[RolloutJob, Rollout], None] | None = None
    ) -> list[Rollout]:
        """Every job's rollout, in job order; ``on_done(job, rollout)`` as each one ends (in the
        order they end). Raises TrainingDataError for a prompt the model cannot take."""
        if not jobs:
            return []
        # the model's own text front end, so a phoneme model's rollouts read what inference reads
        ckpt = S2Checkpoint(
            self.model,
            self.tokenizer,
            Path("."),
            random_weights=False,
            frontend=TextFrontend(self.model.config.text_frontend),
            default_voice=self.default_voice,
        )
        config = EngineConfig(
            max_sessions=self.cfg.batch_size,
            max_queue=len(jobs),
            max_seq_len=self.max_seq_len,
            first_chunk_frames=NO_CHUNKING,
            chunk_frames=NO_CHUNKING,
            max_prefills_per_step=self.cfg.batch_size,
            max_text_chars=1 << 40,
            threaded=False,
        )
        results: list[Rollout | None] = [None] * len(jobs)
        ended: list[int] = []  # filled by the sinks; handed to on_done between frames
        failures: list[BaseException] = []
        was_training = self.model.training
        self.model.eval()
        engine = TTSEngine(ckpt, self.codec, config)
        try:
            for i, job in enumerate(jobs):
                sink = self._sink(i, job, results, ended, failures)
                try:
                    engine.submit(self._request(job), sink)
                except S2TTSError as exc:
                    raise TrainingDataError(f"rollout prompt {job.text[:40]!r}: {exc}") from None
            more = True
            while more and not failures:
                more = engine.step()
                for i in ended:  # outside the sink: the engine would swallow a callback's error
                    if on_done is not None:
                        on_done(jobs[i], results[i])  # type: ignore[arg-type]
                ended.clear()
        finally:
            engine.close()
            self.model.train(was_training)
        if failures:
            raise failures[0]
        out = [r for r in results if r is not None]
        if len(out) != len(jobs):
            raise TrainingDataError(f"{len(jobs) - len(out)} rollouts did not finish")
        return out

    def _request(self, job: RolloutJob) -> SynthesisRequest:
        refs = [VoiceReference(r.text, codes=r.codes) for r in job.references]
        return SynthesisRequest(
            job.text,
            references=refs,
            sampling=self.sampling(),
            seed=job.seed,
            chunk_length=self.cfg.chunk_length,
            trace=True,
            language=job.language,
        )

    def _sink(
        self,
        i: int,
        job: RolloutJob,
        results: list[Rollout | None],
        ended: list[int],
        failures: list[BaseException],
    ) -> Callable[[AudioChunk | BaseException], None]:
        parts: list[np.ndarray] = []

        def sink(item: AudioChunk | BaseException) -> None:
            if isinstance(item, BaseException):
                failures.append(
                    TrainingDataError(f"rollout of {job.text[:40]!r} failed: {item}")
                    if isinstance(item, S2TTSError)
                    else item
                )
                return
            parts.append(item.pcm)
            if not item.is_last:
                return
            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            rollout = Rollout(job.prompt_index, job.sample_index, job.seed, item.trace or (), audio)
            results[i] = rollout
            ended.append(i)

        return sink
