"""Teacher-forced per-token log-probs of sampled outputs under a Dual-AR policy.

A rollout is a prompt (1+N, L) plus its generated frames (N, n), and whether it ended with
``<|im_end|>`` (``finished``) or ran out of budget. The policy being trained is what the sampler
draws from at inference, with top-k/top-p off:

* slow AR: a softmax over the *constrained* set (the semantic tokens plus ``<|im_end|>``, as
  constrained decoding allows) of ``logits / temperature``; position ``L - 1 + i`` predicts frame
  i's main token, and position ``L - 1 + n`` predicts ``<|im_end|>`` when the rollout finished
  (so stopping is learned too);
* fast AR: codebooks 1..N-1 of each frame, ``log_softmax(logits / temperature)``, conditioned on
  the slow hidden state of the frame and the codes before it (codebook 0 comes from the slow
  token, so it is not a fast-AR decision).

The slow forward embeds as inference does (``scale=True``), so the log-probs match the
sampler's to float rounding (tested against the generator's own logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from s2tts.models.dual_ar import DualARTransformer


@dataclass
class PackedRollouts:
    """B rollouts right-padded into one teacher-forcing batch (T = longest output in frames).

    values: (B, 1+N, S) prompt then generated columns, S = max(L_i + n_i);
    starts: (B,) prompt lengths L_i; frames: (B,) n_i; finished: (B,) bool;
    codes: (B, T, N) generated codes (0 past n_i);
    slow_targets: (B, T+1) index in the constrained set (code 0, or num_semantic for im_end);
    slow_mask: (B, T+1); fast_mask: (B, T, N-1).
    """

    values: torch.Tensor
    starts: torch.Tensor
    frames: torch.Tensor
    finished: torch.Tensor
    codes: torch.Tensor
    slow_targets: torch.Tensor
    slow_mask: torch.Tensor
    fast_mask: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.values.shape[0])

    def to(self, device: torch.device | str) -> PackedRollouts:
        return PackedRollouts(**{k: v.to(device) for k, v in self.__dict__.items()})


def pack_rollouts(
    model: DualARTransformer,
    prompts: Sequence[torch.Tensor],
    codes: Sequence[torch.Tensor],
    finished: Sequence[bool],
) -> PackedRollouts:
    """prompts: (1+N, L_i) int; codes: (N, n_i) int; finished: ended with <|im_end|>."""
    cfg = model.config
    n_cb = cfg.num_codebooks
    bsz = len(prompts)
    lengths = [int(c.shape[1]) for c in codes]
    t_max = max(lengths, default=0)
    s_max = max(int(p.shape[1]) + n for p, n in zip(prompts, lengths, strict=True))
    values = torch.zeros(bsz, n_cb + 1, s_max, dtype=torch.long)
    out_codes = torch.zeros(bsz, t_max, n_cb, dtype=torch.long)
    slow_targets = torch.zeros(bsz, t_max + 1, dtype=torch.long)
    slow_mask = torch.zeros(bsz, t_max + 1)
    fast_mask = torch.zeros(bsz, t_max, n_cb - 1)
    eos_index = cfg.semantic_end_id - cfg.semantic_begin_id + 1
    for b, (p, c, done) in enumerate(zip(prompts, codes, finished, strict=True)):
        length, n = int(p.shape[1]), int(c.shape[1])
        c = c.long().cpu()
        values[b, :, :length] = p.long().cpu()
        values[b, 0, length : length + n] = c[0] + cfg.semantic_begin_id
        values[b, 1:, length : length + n] = c
        out_codes[b, :n] = c.t()
        slow_targets[b, :n] = c[0]
        slow_mask[b, :n] = 1.0
        fast_mask[b, :n] = 1.0
        if done:
            slow_targets[b, n] = eos_index
            slow_mask[b, n] = 1.0
    return PackedRollouts(
        values=values,
        starts=torch.tensor([int(p.shape[1]) for p in prompts], dtype=torch.long),
        frames=torch.tensor(lengths, dtype=torch.long),
        finished=torch.tensor([bool(f) for f in finished]),
        codes=out_codes,
        slow_targets=slow_targets,
        slow_mask=slow_mask,
        fast_mask=fast_mask,
    )


@dataclass
class TokenLogProbs:
    """slow: (B, T+1); fast: (B, T, N-1); zero where the masks are zero."""

    slow: torch.Tensor
    fast: torch.Tensor


def constrained_weight(model: DualARTransformer) -> torch.Tensor:
    """The allowed output rows (num_semantic + 1, dim): semantic tokens, then <|im_end|>."""
    cfg = model.config
    emb = model.slow.embeddings.weight
    return torch.cat([emb[cfg.semantic_begin_id : cfg.semantic_end_id + 1], emb[cfg.eos_token_id :][:1]])


def _eos_column(logits: torch.Tensor) -> torch.Tensor:
    """(1, 1, V) bool, True at the last (``<|im_end|>``) column."""
    col = torch.zeros(1, 1, logits.shape[-1], dtype=torch.bool, device=logits.device)
    col[..., -1] = True
    return col


def rollout_logprobs(
    model: DualARTransformer, batch: PackedRollouts, temperature: float = 1.0, min_frames: int = 0
) -> TokenLogProbs:
    """Log-probs of every sampled slow token and fast code (grad flows when enabled).

    min_frames: the sampler's ``min_new_tokens``: ``<|im_end|>`` was not allowed for the first
    min_frames frames, so the policy there is the softmax over the semantic tokens alone."""
    n_cb = model.config.num_codebooks
    hidden = model.slow(batch.values, scale=True)
    assert isinstance(hidden, torch.Tensor)  # (B, S, dim)
    bsz, s_len, dim = hidden.shape
    t1 = batch.slow_targets.shape[1]
    pos = (batch.starts.view(-1, 1) - 1 + torch.arange(t1, device=hidden.device).view(1, -1)).clamp(
        0, s_len - 1
    )
    h = hidden.gather(1, pos.unsqueeze(-1).expand(bsz, t1, dim))  # (B, T+1, dim)
    logits = (h @ constrained_weight(model).t()).float() / temperature
    if min_frames > 0:
        early = torch.arange(t1, device=logits.device) < min_frames
        logits = logits.masked_fill(early.view(1, -1, 1) & _eos_column(logits), float("-inf"))
    slow = F.log_softmax(logits, dim=-1).gather(-1, batch.slow_targets.unsqueeze(-1)).squeeze(-1)
    slow = slow * batch.slow_mask
    t = t1 - 1
    fast = torch.zeros(bsz, t, n_cb - 1, device=hidden.device, dtype=slow.dtype)
    valid = batch.fast_mask[..., 0] > 0  # (B, T)
    if t > 0 and bool(valid.any()):
        codes = batch.codes[valid]  # (M, N)
        fl = model.fast.teacher_forced(h[:, :t][valid], codes).float() / temperature  # (M, N, C)
        lp = F.log_softmax(fl[:, 1:], dim=-1).gather(-1, codes[:, 1:].unsqueeze(-1)).squeeze(-1)
        fast = fast.index_put((valid,), lp)
    return TokenLogProbs(slow, fast)
