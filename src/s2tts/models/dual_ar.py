"""The Dual-AR LM: slow AR over time + fast AR over codebooks, with the training forward.

Inference is driven from outside (``s2tts.inference.generate``): the model only exposes
``slow(...)``, ``slow.logits(...)``, ``fast.step(...)`` and the caches' shapes. Training uses
``forward_train``: teacher-forced slow logits for every position and fast logits for every
position whose *label* is a semantic token (the reference's loss layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from s2tts.models.config import DualARConfig
from s2tts.models.fast import FastTransformer
from s2tts.models.kv_cache import KVCache
from s2tts.models.slow import SlowTransformer


@dataclass
class TrainOutput:
    """token_logits: (B, T, vocab); codebook_logits: (N, num_codebooks, codebook_size) for the N
    positions whose label is semantic (row-major order); codebook_labels: (N, num_codebooks)."""

    token_logits: torch.Tensor
    codebook_logits: torch.Tensor
    codebook_labels: torch.Tensor


class DualARTransformer(nn.Module):
    def __init__(self, config: DualARConfig) -> None:
        super().__init__()
        self.config = config
        self.slow = SlowTransformer(config)
        self.fast = FastTransformer(config)

    # ------------------------------------------------------------------ caches
    def allocate_caches(
        self,
        max_batch: int,
        max_seq_len: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[KVCache, KVCache]:
        """Slow cache (n_layer, B, H_kv, T_max, hd) and fast cache (n_fast, B, H_kv, N, hd)."""
        s, f = self.config.slow, self.config.fast
        ref = self.slow.embeddings.weight
        dtype = dtype or ref.dtype
        device = device or ref.device
        t_max = min(max_seq_len or s.max_seq_len, s.max_seq_len)
        slow = KVCache.allocate(
            s.n_layer, max_batch, s.n_kv_head, t_max, s.head_dim, dtype=dtype, device=device
        )
        fast = KVCache.allocate(
            f.n_layer,
            max_batch,
            f.n_kv_head,
            self.config.num_codebooks,
            f.head_dim,
            dtype=dtype,
            device=device,
        )
        return slow, fast

    # ------------------------------------------------------------------ training
    def forward_train(
        self,
        values: torch.Tensor,
        labels: torch.Tensor,
        scale_codebook_embeddings: bool = False,
    ) -> TrainOutput:
        """Teacher-forced forward.

        values: (B, 1+N, T) inputs; labels: (B, 1+N, T) with row 0 the next token (-100 = ignore)
        and rows 1..N the next frame's codes. The reference trains without the 1/sqrt(N+1)
        scaling of semantic inputs (``scale_codebook_embeddings=False`` reproduces it); pass True
        to train exactly as inference embeds.
        """
        cfg = self.config
        hidden = self.slow(values, scale=scale_codebook_embeddings)
        assert isinstance(hidden, torch.Tensor)
        token_logits = self.slow.logits(hidden)
        label_tokens = labels[:, 0]
        semantic = (label_tokens >= cfg.semantic_begin_id) & (label_tokens <= cfg.semantic_end_id)
        h = hidden[semantic]  # (N_sem, dim)
        codes = labels[:, 1:].transpose(1, 2)[semantic]  # (N_sem, N)
        codebook_logits = self.fast.teacher_forced(h, codes)
        return TrainOutput(token_logits, codebook_logits, codes)
