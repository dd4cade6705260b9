"""The per-frame compute of Dual-AR decoding, as free functions (the compile boundary).

One *frame* is: a slow-AR step (one column per row) -> the constrained main token -> codebook 0
-> nine fast-AR steps for codebooks 1..9. The same functions serve the single-prompt generator,
the batched generator and the engine; rows of a batch live in rows 0..B-1 of the caches and
each sits at its own position.

Constrained decoding only ever allows ``<|semantic:*|>`` and ``<|im_end|>``, so instead of the
full-vocabulary logits with a -inf bias we multiply the hidden state by just those embedding
rows (:class:`SemanticHead`); the softmax over that subset equals the reference's biased softmax.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from s2tts.inference.params import SamplingParams
from s2tts.inference.sampling import RowSampling, sample
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.kv_cache import KVCache

FastStep = Callable[[torch.Tensor, torch.Tensor, KVCache], torch.Tensor]


@dataclass
class SemanticHead:
    """Output rows of the allowed main tokens: weight (num_semantic + 1, dim), im_end last."""

    weight: torch.Tensor
    semantic_begin_id: int
    eos_token_id: int

    @classmethod
    def from_model(cls, model: DualARTransformer) -> SemanticHead:
        cfg = model.config
        emb = model.slow.embeddings.weight
        weight = torch.cat(
            [emb[cfg.semantic_begin_id : cfg.semantic_end_id + 1], emb[cfg.eos_token_id :][:1]]
        )
        return cls(weight.detach().contiguous(), cfg.semantic_begin_id, cfg.eos_token_id)

    @property
    def eos_index(self) -> int:
        return self.weight.shape[0] - 1

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B, dim) -> constrained logits (B, num_semantic + 1)."""
        return hidden @ self.weight.t()

    def to_token_ids(self, index: torch.Tensor) -> torch.Tensor:
        """Index into the constrained set -> vocabulary ids."""
        return torch.where(index == self.eos_index, self.eos_token_id, index + self.semantic_begin_id)


def prefill(
    model: DualARTransformer,
    values: torch.Tensor,
    cache: KVCache,
    row: int,
    start_pos: int = 0,
) -> torch.Tensor:
    """Run a prompt (1+N, T) into cache row ``row`` at positions start_pos..start_pos+T-1.

    Returns the normed hidden state of the last position, (dim,).
    """
    length = values.shape[-1]
    view = KVCache(cache.k[:, row : row + 1], cache.v[:, row : row + 1])
    input_pos = torch.arange(start_pos, start_pos + length, device=values.device).unsqueeze(0)
    hidden = model.slow(
        values.unsqueeze(0), input_pos=input_pos, cache=view, kv_len=start_pos + length, start_pos=start_pos
    )
    assert isinstance(hidden, torch.Tensor)
    return hidden[0, -1]


def slow_step(
    model: DualARTransformer,
    columns: torch.Tensor,
    positions: Sequence[int],
    cache: KVCache,
) -> torch.Tensor:
    """One slow-AR step for rows 0..B-1: columns (B, 1+N, 1) at their own positions -> hidden (B, dim)."""
    bsz = columns.shape[0]
    input_pos = torch.tensor(positions, dtype=torch.long, device=columns.device).view(bsz, 1)
    kv_len = max(positions) + 1
    same = min(positions) == kv_len - 1
    hidden = model.slow(
        columns, input_pos=input_pos, cache=cache, kv_len=kv_len, start_pos=kv_len - 1 if same else None
    )
    assert isinstance(hidden, torch.Tensor)
    return hidden[:, 0]


def fast_frame(
    model: DualARTransformer,
    hidden: torch.Tensor,
    code0: torch.Tensor,
    cache: KVCache,
    rs: RowSampling,
    generators: Sequence[torch.Generator | None],
    logits_out: list[torch.Tensor] | None = None,
    step_fn: FastStep | None = None,
) -> torch.Tensor:
    """Codebooks 1..N-1 of one frame.

    hidden: (B, dim) normed slow states; code0: (B,) int64. Position 0 takes the hidden state,
    position k the code k-1 just drawn. ``step_fn`` replaces ``model.fast.step`` (e.g. compiled).
    Returns codes (B, N) with column 0 = code0. Appends each step's logits (B, codebook) to
    logits_out when given.
    """
    fast = model.fast
    n = model.config.num_codebooks
    step = step_fn or fast.step
    positions = torch.arange(n, device=hidden.device)
    step(fast.project_in(hidden).unsqueeze(1), positions[:1], cache)  # position 0; its output is unused
    codes = [code0]
    for k in range(1, n):
        logits = step(fast.embeddings(codes[-1]).unsqueeze(1), positions[k : k + 1], cache)
        if logits_out is not None:
            logits_out.append(logits)
        codes.append(sample(logits, rs, generators))
    return torch.stack(codes, dim=1)


@dataclass
class FrameSampler:
    """Per-row sampling state of a decoding batch: parameters, generators, RAS windows.

    Rows are appended/removed by the owner (generator or engine) as sequences join and leave.
    """

    params: list[SamplingParams]
    generators: list[torch.Generator | None]
    windows: list[deque[int]]
    steps: list[int]

    @classmethod
    def empty(cls) -> FrameSampler:
        return cls([], [], [], [])

    def add(self, params: SamplingParams, generator: torch.Generator | None) -> None:
        self.params.append(params)
        self.generators.append(generator)
        self.windows.append(deque(maxlen=params.ras_window))
        self.steps.append(0)

    def remove(self, row: int) -> None:
        for seq in (self.params, self.generators, self.windows, self.steps):
            del seq[row]

    def move(self, src: int, dst: int) -> None:
        """Row src takes row dst's place (swap-remove compaction; call remove(src) afterwards)."""
        for seq in (self.params, self.generators, self.windows, self.steps):
            seq[dst] = seq[src]

    def reset_row(self, row: int) -> None:
        """A new text batch starts for this row: RAS restarts as on a fresh prefill."""
        self.windows[row].clear()
        self.steps[row] = 0

    def __len__(self) -> int:
        return len(self.params)


def sample_frame(
    model: DualARTransformer,
    head: SemanticHead,
    hidden: torch.Tensor,
    fast_cache: KVCache,
    sampler: FrameSampler,
    logits_out: dict[str, list[torch.Tensor]] | None = None,
    fast_step: FastStep | None = None,
) -> tuple[list[int], torch.Tensor]:
    """Draw one frame for every row from its slow hidden state.

    hidden: (B, dim). Returns (main token ids as a host list, codes (B, N) int64). A row whose
    token is ``<|im_end|>`` has finished; its codes are computed but meaningless.
    Repetition-aware sampling: from a row's second step on, a "high" draw is also made, and it
    replaces the normal draw when that is a semantic token already among the row's last
    ``ras_window`` tokens. ``fast_step`` replaces ``model.fast.step`` (e.g. a compiled one).
    """
    cfg = model.config
    device = hidden.device
    logits = head.logits(hidden)
    early = [b for b, p in enumerate(sampler.params) if sampler.steps[b] < p.min_new_tokens]
    if early:
        logits[early, head.eos_index] = float("-inf")
    rs = RowSampling.from_params(sampler.params, device)
    index = sample(logits, rs, sampler.generators)
    ras_rows = [b for b, p in enumerate(sampler.params) if p.use_ras and sampler.steps[b] > 0]
    if ras_rows:
        high = sample(logits, RowSampling.from_params(sampler.params, device, high=True), sampler.generators)
        normal_tokens = head.to_token_ids(index).tolist()
        for b in ras_rows:
            tok = normal_tokens[b]
            if tok != cfg.eos_token_id and tok in sampler.windows[b]:
                index[b] = high[b]
    tokens_t = head.to_token_ids(index)
    tokens = tokens_t.tolist()
    code0 = (tokens_t - cfg.semantic_begin_id).clamp(0, cfg.codebook_size - 1)
    fast_logits: list[torch.Tensor] | None = [] if logits_out is not None else None
    codes = fast_frame(model, hidden, code0, fast_cache, rs, sampler.generators, fast_logits, fast_step)
    if logits_out is not None:
        logits_out.setdefault("slow", []).append(logits)
        logits_out.setdefault("fast", []).append(torch.stack(fast_logits or [], dim=1))
    for b, tok in enumerate(tokens):
        sampler.windows[b].append(tok)
        sampler.steps[b] += 1
    return tokens, codes


def frame_column(tokens: torch.Tensor | list[int], codes: torch.Tensor) -> torch.Tensor:
    """Next slow-AR input columns: (B, 1+N, 1) from main tokens (B,) and codes (B, N)."""
    tok = torch.as_tensor(tokens, dtype=torch.long, device=codes.device).view(-1, 1)
    return torch.cat([tok, codes], dim=1).unsqueeze(-1)
