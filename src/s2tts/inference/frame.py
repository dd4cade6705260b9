"""One decode frame as a single static-shape, device-only function: the compile boundary.

A *frame* takes every row of a batch from the slow hidden state of its last column to the next
one::

    hidden (B, dim) -> constrained main-token logits -> normal + RAS draws -> token (B,)
      -> code 0 -> nine fast-AR steps and their draws -> codes (B, N)
      -> slow-AR step on the new column [token; codes] at ``positions`` -> next hidden (B, dim)

There is no host sync and no Python loop over rows: per-row sampling settings are tensors
(:class:`RowParams`), the randomness is pre-drawn Exp(1) noise (B, N + 1, K) -- slot 0 the
normal main-token draw, 1 the repetition-aware "high" draw, 2.. the fast codebooks -- and the
repetition window is a (B, W) tensor. Shapes depend only on B, K, W and the attention window
``kv_len`` (a Python int the caller buckets), so ``torch.compile(decode_frame, fullgraph=True)``
builds one graph per bucket and, on CUDA, ``mode="reduce-overhead"`` replays it as a CUDA graph.

Constrained decoding only ever allows ``<|semantic:*|>`` and ``<|im_end|>``, so instead of the
full-vocabulary logits with a -inf bias the hidden state is multiplied by just those embedding
rows (:class:`ConstrainedHead`); the softmax over that subset equals the reference's biased one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from s2tts.inference.sampling import Filter, candidates, draw, filter_candidates
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.kv_cache import KVCache
from s2tts.models.layout import column_major, wants_column_major
from s2tts.models.products import linear, row_product, use_row_product

# Noise slots per row and frame: the normal and the RAS main-token draws, then codebooks 1..N-1.
MAIN_DRAWS = 2


@dataclass(frozen=True)
class ConstrainedHead:
    """Output rows of the allowed main tokens: weight (num_semantic + 1, dim), im_end last."""

    weight: torch.Tensor
    semantic_begin_id: int
    eos_token_id: int

    @classmethod
    def from_model(cls, model: DualARTransformer, decode_layout: bool = True) -> ConstrainedHead:
        """The head's rows from the model's embeddings; ``decode_layout``: store fp32 CPU rows
        column-major for the library's batch-1 product (eager decoding), else row-major (the
        compiled frame's fused one-row product, ``models.products``)."""
        cfg = model.config
        emb = model.slow.embeddings.weight
        weight = torch.cat(
            [emb[cfg.semantic_begin_id : cfg.semantic_end_id + 1], emb[cfg.eos_token_id :][:1]]
        )
        weight = weight.detach().contiguous()
        if decode_layout and wants_column_major(weight):  # see models.layout
            weight = column_major(weight)
        return cls(weight, cfg.semantic_begin_id, cfg.eos_token_id)

    @property
    def eos_index(self) -> int:
        return self.weight.shape[0] - 1

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B, dim) -> constrained logits (B, num_semantic + 1)."""
        if use_row_product(hidden, self.weight):
            return row_product(hidden, self.weight)
        return hidden @ self.weight.t()

    def to_token_ids(self, index: torch.Tensor) -> torch.Tensor:
        """Index into the constrained set -> vocabulary ids."""
        return torch.where(index == self.eos_index, self.eos_token_id, index + self.semantic_begin_id)


class RowParams(NamedTuple):
    """Per-row sampling settings as tensors on the decode device (rows of a slot table).

    temperature, top_p, ras_temperature, ras_top_p: (B, 1) float32; top_k: (B, 1) int64;
    use_ras: (B,) bool; ras_window: (B,) int64 (<= the window tensor's width); min_new: (B,)
    int64 -- ``<|im_end|>`` is masked while a row's step count is below it.
    """

    temperature: torch.Tensor
    top_p: torch.Tensor
    top_k: torch.Tensor
    ras_temperature: torch.Tensor
    ras_top_p: torch.Tensor
    use_ras: torch.Tensor
    ras_window: torch.Tensor
    min_new: torch.Tensor

    def rows(self, n: int) -> RowParams:
        """The first n rows (a view, no copy)."""
        return self if n == self.temperature.shape[0] else RowParams(*(t[:n] for t in self))


class FrameOut(NamedTuple):
    """What one frame produces for rows 0..B-1.

    tokens: (B,) main-token ids (``<|im_end|>`` = the row's text batch ended; its codes are
    meaningless). codes: (B, N) int64. hidden: (B, dim) slow state after the new column.
    window: (B, W) and steps: (B,) the updated repetition state. logprobs: (B, N) float32, the
    log-probability of each drawn token under the distribution it was drawn from (main token,
    then codebooks 1..N-1; RL rollouts use them). slow_logits (B, num_semantic + 1) and
    fast_logits (B, N - 1, codebook_size) only when asked for (parity tests), else None.
    """

    tokens: torch.Tensor
    codes: torch.Tensor
    hidden: torch.Tensor
    window: torch.Tensor
    steps: torch.Tensor
    logprobs: torch.Tensor
    slow_logits: torch.Tensor | None
    fast_logits: torch.Tensor | None


def decode_frame(
    model: DualARTransformer,
    head: ConstrainedHead,
    hidden: torch.Tensor,
    positions: torch.Tensor,
    slow_cache: KVCache,
    fast_cache: KVCache,
    kv_len: int,
    params: RowParams,
    window: torch.Tensor,
    steps: torch.Tensor,
    noise: torch.Tensor,
    want_logits: bool = False,
) -> FrameOut:
    """One frame for rows 0..B-1 of the caches.

    hidden: (B, dim) normed slow state of each row's last column. positions: (B,) int64, where
    each row's new column goes (< kv_len). kv_len: static attention window of the slow step.
    window: (B, W) recent main tokens (-1 = empty), steps: (B,) frames drawn so far in the
    current text batch. noise: (B, N + 1, K) Exp(1) draws; K is the sampling width (>= top_k).
    """
    cfg = model.config
    n = cfg.num_codebooks
    width = noise.shape[-1]
    logits = head.logits(hidden).float()
    eos_col = torch.arange(logits.shape[-1], device=logits.device) == head.eos_index
    logits = logits.masked_fill((steps < params.min_new).unsqueeze(1) & eos_col, float("-inf"))
    # The normal and the repetition-aware draw share the candidates, not the filter.
    main_k = min(width, logits.shape[-1])
    values, idx, mass = candidates(logits, main_k)
    normal_filter = Filter.build(params.temperature, params.top_p, params.top_k, main_k)
    ras_filter = Filter.build(params.ras_temperature, params.ras_top_p, params.top_k, main_k)
    normal, normal_lp = draw(filter_candidates(values, mass, normal_filter), idx, noise[:, 0])
    high, high_lp = draw(filter_candidates(values, mass, ras_filter), idx, noise[:, 1])
    # Repetition-aware sampling: a semantic token already among the row's recent tokens is
    # replaced by the high draw (never on a text batch's first step).
    w = window.shape[1]
    recent = torch.arange(w, device=window.device).unsqueeze(0) >= (w - params.ras_window).unsqueeze(1)
    seen = ((window == head.to_token_ids(normal).unsqueeze(1)) & recent).any(dim=1)
    repeat = seen & (normal != head.eos_index) & params.use_ras & (steps > 0)
    index = torch.where(repeat, high, normal)
    tokens = head.to_token_ids(index)
    code = (tokens - cfg.semantic_begin_id).clamp(0, cfg.codebook_size - 1)

    fast = model.fast
    fast_pos = torch.arange(n, device=hidden.device)
    fast_k = min(width, cfg.codebook_size)
    fast_filter = (
        normal_filter
        if fast_k == main_k
        else Filter.build(params.temperature, params.top_p, params.top_k, fast_k)
    )
    codes = [code]
    logprobs = [torch.where(repeat, high_lp, normal_lp)]
    fast_logits = []
    # Positions 0 (the slow state, whose output is unused) and 1 (code 0) in one pass: the fast
    # weights are read once for both instead of twice.
    step_in = torch.stack([linear(fast.project_in, hidden), fast.embeddings(code)], dim=1)  # (B, 2, dim)
    for k in range(1, n):
        if k > 1:
            step_in = fast.embeddings(code).unsqueeze(1)
        step_logits = fast.step(step_in, fast_pos[k + 1 - step_in.shape[1] : k + 1], fast_cache)
        values, idx, mass = candidates(step_logits, fast_k)
        lp = filter_candidates(values, mass, fast_filter)
        code, code_lp = draw(lp, idx, noise[:, MAIN_DRAWS + k - 1])
        codes.append(code)
        logprobs.append(code_lp)
        if want_logits:
            fast_logits.append(step_logits)
    frame_codes = torch.stack(codes, dim=1)

    column = torch.cat([tokens.unsqueeze(1), frame_codes], dim=1).unsqueeze(-1)  # (B, 1+N, 1)
    next_hidden = model.slow(column, input_pos=positions.view(-1, 1), cache=slow_cache, kv_len=kv_len)
    assert isinstance(next_hidden, torch.Tensor)
    return FrameOut(
        tokens=tokens,
        codes=frame_codes,
        hidden=next_hidden[:, 0],
        window=torch.cat([window[:, 1:], tokens.unsqueeze(1)], dim=1),
        steps=steps + 1,
        logprobs=torch.stack(logprobs, dim=1),
        slow_logits=logits if want_logits else None,
        fast_logits=torch.stack(fast_logits, dim=1) if want_logits else None,
    )


def prefill(
    model: DualARTransformer,
    values: torch.Tensor,
    cache: KVCache,
    row: int,
    start_pos: int = 0,
) -> torch.Tensor:
    """Run prompt columns (1+N, T) into cache row ``row`` at positions start_pos..start_pos+T-1.

    The separate (uncompiled, any-length) path of decoding. Returns the normed hidden state of
    the last position, (dim,).
    """
    length = values.shape[-1]
    view = KVCache(cache.k[:, row : row + 1], cache.v[:, row : row + 1])
    input_pos = torch.arange(start_pos, start_pos + length, device=values.device).unsqueeze(0)
    hidden = model.slow(values.unsqueeze(0), input_pos=input_pos, cache=view, kv_len=start_pos + length)
    assert isinstance(hidden, torch.Tensor)
    return hidden[0, -1]
