"""Rollouts: G sampled outputs per prompt through the batched decode path, decoded to audio.

Each prompt's G samples run as one batch of the inference decode loop (``decode_rows``: the
same ``decode_frame`` as the engine, every row at its own position and stop), each row with its
own ``torch.Generator`` seeded from (run seed, step, prompt, sample), so any rollout can be
regenerated alone. ``decode_frame`` returns the log-probability of every token it draws, which
the rollout keeps: the *sampling* log-probs (the behaviour policy of the importance ratio). For
RL the sampler is the policy: by default the whole distribution at ``temperature`` (no
top-k/top-p, no repetition-aware redraw), which ``logprobs.rollout_logprobs`` recomputes with
gradients; narrowing the sampler (``top_k``/``top_p``) is allowed and off-policy.

A rollout keeps its prompt (1+N, L), its codes (N, n) -- the slow tokens are codebook 0 --,
whether it ended with ``<|im_end|>`` (else it hit the frame budget: truncated), its seed, its
sampling log-probs and its audio. :class:`WaveformCache` decodes each distinct code sequence once (scoring, logging and
duplicate samples share it).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from s2tts.errors import TrainConfigError
from s2tts.inference.decoder import frame_budget
from s2tts.inference.generate import decode_rows, stack_frames
from s2tts.inference.params import SamplingParams
from s2tts.models.codec import Codec
from s2tts.models.dual_ar import DualARTransformer
from s2tts.text.prompt import Reference


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
    """group_size: G; top_k 0 = no top-k; max_new_tokens: frame budget + 1 (the prefill step)."""

    group_size: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise TrainConfigError("rollout.group_size must be >= 2 (advantages compare samples of a group)")
        if self.max_new_tokens < 2:
            raise TrainConfigError("rollout.max_new_tokens must be >= 2")

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
    """prompt: (1+N, L) int64; codes: (N, n) int64; slow_logprobs: (n + finished,) the main
    tokens' sampling log-probs (the last one is ``<|im_end|>``'s when finished); fast_logprobs:
    (n, N - 1) the codebooks'; audio: mono float32 (set after decoding)."""

    prompt_index: int
    sample_index: int
    seed: int
    prompt: torch.Tensor
    codes: torch.Tensor
    finished: bool
    slow_logprobs: torch.Tensor
    fast_logprobs: torch.Tensor
    audio: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])


def rollout_seed(base: int, step: int, prompt_index: int, sample_index: int) -> int:
    """A 63-bit seed from the four integers (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{base}:{step}:{prompt_index}:{sample_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generate_group(
    model: DualARTransformer,
    prompt: torch.Tensor,
    cfg: RolloutConfig,
    prompt_index: int,
    seeds: Sequence[int],
) -> list[Rollout]:
    """G = len(seeds) samples of one prompt (1+N, L), batched, with their sampling log-probs."""
    params = cfg.sampling(model.config.codebook_size)
    g = len(seeds)
    budget = frame_budget(model.config.slow.max_seq_len, int(prompt.shape[1]), params)
    device = model.slow.embeddings.weight.device
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    eos = model.config.eos_token_id
    codes: list[list[torch.Tensor]] = [[] for _ in range(g)]
    slow_lp: list[list[torch.Tensor]] = [[] for _ in range(g)]
    fast_lp: list[list[torch.Tensor]] = [[] for _ in range(g)]
    finished = [False] * g
    over = [budget <= 0] * g
    was_training = model.training
    model.eval()
    try:
        for live, out in decode_rows(model, [prompt] * g, [params] * g, gens):
            tokens = out.tokens.tolist()
            lp = out.logprobs.float().cpu()  # (G, N): main token, then codebooks 1..N-1
            for b in range(g):
                if over[b]:
                    continue
                if live[b]:
                    codes[b].append(out.codes[b].cpu())
                    slow_lp[b].append(lp[b, 0])
                    fast_lp[b].append(lp[b, 1:])
                    over[b] = len(codes[b]) >= budget
                elif tokens[b] == eos:
                    finished[b], over[b] = True, True
                    slow_lp[b].append(lp[b, 0])
                else:
                    over[b] = True
    finally:
        model.train(was_training)
    n_cb = model.config.num_codebooks
    return [
        Rollout(
            prompt_index,
            i,
            s,
            prompt.cpu(),
            stack_frames(codes[i], n_cb).clone(),
            finished[i],
            torch.stack(slow_lp[i]) if slow_lp[i] else torch.zeros(0),
            torch.stack(fast_lp[i]) if fast_lp[i] else torch.zeros(0, n_cb - 1),
        )
        for i, s in enumerate(seeds)
    ]


class WaveformCache:
    """codes -> decoded mono float32 audio, LRU over ``max_entries`` distinct code sequences."""

    def __init__(self, codec: Codec, max_entries: int = 4096) -> None:
        self.codec = codec
        self.max_entries = max_entries
        self._audio: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(codes: torch.Tensor) -> str:
        c = codes.detach().cpu().to(torch.int64).contiguous()
        return hashlib.blake2b(c.numpy().tobytes() + str(tuple(c.shape)).encode(), digest_size=16).hexdigest()

    def get(self, codes: torch.Tensor) -> np.ndarray:
        """codes (N, n) -> audio (n * frame_length,) float32 at the codec's rate."""
        k = self.key(codes)
        if k in self._audio:
            self.hits += 1
            self._audio.move_to_end(k)
            return self._audio[k]
        self.misses += 1
        if codes.shape[1] == 0:
            audio = np.zeros(0, dtype=np.float32)
        else:
            # residual codebooks of the codec may be smaller than the LM's: clamp as the engine does
            c = self.codec.clamp_codes(codes.cpu().long())
            audio = self.codec.decode(c[None])[0, 0].float().cpu().numpy()
        self._audio[k] = audio
        if len(self._audio) > self.max_entries:
            self._audio.popitem(last=False)
        return audio

    def decode_all(self, rollouts: Sequence[Rollout]) -> None:
        for r in rollouts:
            r.audio = self.get(r.codes)
