"""The Dual-AR training loss of S2 §4.2, as pure functions over logits.

Slow AR (next token over the interleaved stream)::

    L_slow = sum_t m_t * lambda_t * CE_t / sum_t m_t * lambda_t

with m_t = 0 where the target lies in the system turn (instructions, reference transcripts and
reference audio), lambda_t = ``text_weight`` for text targets (counted only when ``text_loss``,
i.e. pre-training) and ``audio_weight`` for the semantic tokens and closing ``<|im_end|>`` of voice
turns. With ``constrained_audio`` the CE of an audio target is taken over the tokens inference can
sample there -- the semantic range plus ``<|im_end|>`` -- so training matches the constrained
decoding of ``s2tts.inference``; text targets always use the full vocabulary.

Fast AR (codebooks of one frame, at every audio position whose target is semantic)::

    L_fast = mean_n [ sum_k w(k) CE_{n,k} / sum_k w(k) ]

pre-training: w(k) = 1 for all k including codebook 0 (an auxiliary target: at inference
codebook 0 comes from the slow AR); SFT: w(0) = 0 and w(k) = decay^(k-1) for k >= 1
(``codebook_weights="decay"``, ``drop_semantic_codebook=True``), or an explicit list.

``fast_fraction`` < 1 trains the fast AR on a random subset of those positions each step (an
unbiased estimate of L_fast at a fraction of its cost: per frame the fast AR runs ``num_codebooks``
positions through its layers, several times the slow AR's work for one column).

Total: ``lambda_slow * L_slow + lambda_fast * L_fast``. The functions return *sums* and the trainer
divides by counts taken over the whole optimizer step (all micro-batches and ranks), so gradient
accumulation and DDP give the same gradient as one big batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from s2tts.errors import TrainConfigError
from s2tts.training.lm.samples import AUDIO, TEXT

__all__ = [
    "LossConfig",
    "codebook_weights",
    "combine",
    "fast_loss_sum",
    "slow_loss_sum",
    "token_weights",
]


@dataclass(frozen=True)
class LossConfig:
    lambda_slow: float = 1.0
    lambda_fast: float = 1.0
    text_loss: bool = True
    text_weight: float = 1.0
    audio_weight: float = 1.0
    constrained_audio: bool = True
    codebook_weights: Literal["uniform", "decay"] = "uniform"
    drop_semantic_codebook: bool = False
    codebook_decay: float = 0.8
    custom_codebook_weights: list[float] | None = None
    fast_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fast_fraction <= 1.0:
            raise TrainConfigError(f"fast_fraction must be in (0, 1], got {self.fast_fraction}")
        if min(self.lambda_slow, self.lambda_fast, self.text_weight, self.audio_weight) < 0:
            raise TrainConfigError("loss weights must be >= 0")
        if not 0.0 < self.codebook_decay <= 1.0:
            raise TrainConfigError(f"codebook_decay must be in (0, 1], got {self.codebook_decay}")

    @classmethod
    def pretrain(cls) -> LossConfig:
        return cls()

    @classmethod
    def sft(cls) -> LossConfig:
        return cls(text_loss=False, codebook_weights="decay", drop_semantic_codebook=True)


def codebook_weights(cfg: LossConfig, num_codebooks: int) -> Tensor:
    """w(k) for k = 0..num_codebooks-1 as a float32 tensor (K,)."""
    if cfg.custom_codebook_weights is not None:
        w = torch.tensor(cfg.custom_codebook_weights, dtype=torch.float32)
        if w.numel() != num_codebooks or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise TrainConfigError(
                f"custom_codebook_weights needs {num_codebooks} non-negative values with a positive sum"
            )
        return w
    first = 1 if cfg.drop_semantic_codebook else 0
    if first >= num_codebooks:
        raise TrainConfigError("dropping codebook 0 leaves no fast-AR target with a single codebook")
    k = torch.arange(num_codebooks, dtype=torch.float32)
    if cfg.codebook_weights == "uniform":
        w = torch.ones(num_codebooks)
    else:
        w = cfg.codebook_decay ** (k - first).clamp(min=0)
    w[:first] = 0.0
    return w


def token_weights(kinds: Tensor, cfg: LossConfig) -> Tensor:
    """m_t * lambda_t from target kinds (..., T) -> float32 (..., T)."""
    w = torch.zeros(kinds.shape, dtype=torch.float32, device=kinds.device)
    if cfg.text_loss:
        w = torch.where(kinds == TEXT, cfg.text_weight, w)
    return torch.where(kinds == AUDIO, cfg.audio_weight, w)


def slow_loss_sum(
    text_logits: Tensor,
    text_targets: Tensor,
    text_weights: Tensor,
    audio_logits: Tensor,
    audio_targets: Tensor,
    audio_weights: Tensor,
    semantic_begin_id: int,
    eos_token_id: int,
    constrained: bool,
) -> Tensor:
    """sum_t lambda_t CE_t over selected positions.

    text_logits (Mt, V) with targets (Mt,) and weights (Mt,); audio_logits (Ma, S + 1) over
    [semantic tokens..., <|im_end|>] when ``constrained`` else (Ma, V), targets (Ma,) as vocab ids.
    """
    total = (text_weights * F.cross_entropy(text_logits.float(), text_targets, reduction="none")).sum()
    if constrained:
        num_semantic = audio_logits.shape[-1] - 1
        index = torch.where(audio_targets == eos_token_id, num_semantic, audio_targets - semantic_begin_id)
    else:
        index = audio_targets
    audio = F.cross_entropy(audio_logits.float(), index, reduction="none")
    return total + (audio_weights * audio).sum()


def fast_loss_sum(logits: Tensor, codes: Tensor, weights: Tensor) -> Tensor:
    """sum_n [sum_k w(k) CE_{n,k} / sum_k w(k)]; logits (N, K, C), codes (N, K), weights (K,)."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), codes.flatten(), reduction="none").view(codes.shape)
    w = weights.to(ce.device)
    return (ce * w).sum() / w.sum()


def combine(
    slow_sum: Tensor, slow_count: float, fast_sum: Tensor, fast_count: float, cfg: LossConfig
) -> Tensor:
    """lambda_slow * slow_sum / slow_count + lambda_fast * fast_sum / fast_count (empty terms are 0)."""
    slow = slow_sum / slow_count if slow_count > 0 else slow_sum * 0.0
    fast = fast_sum / fast_count if fast_count > 0 else fast_sum * 0.0
    return cfg.lambda_slow * slow + cfg.lambda_fast * fast
