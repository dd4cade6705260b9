"""The fast AR: four decoder layers over the codebooks of a single frame.

Sequence (length N = num_codebooks): position 0 is ``project_in(h)`` where h is the slow AR's
normed hidden state; position k >= 1 is ``embeddings(code_{k-1})``. The output at position k
predicts codebook k. At inference codebook 0 comes from the slow AR's sampled token, so the
position-0 output is discarded and codebooks 1..N-1 are produced one step at a time with a tiny
KV cache (positions 0..N-1, rewritten every frame). In training, all N outputs are used.
"""

from __future__ import annotations

import torch
from torch import nn

from s2tts.models.config import DualARConfig
from s2tts.models.kv_cache import KVCache
from s2tts.models.layers import TransformerBlock
from s2tts.models.norm import RMSNorm
from s2tts.models.products import linear
from s2tts.models.rope import rope_table


class FastTransformer(nn.Module):
    def __init__(self, config: DualARConfig) -> None:
        super().__init__()
        cfg = config.fast
        self.config = config
        self.project_in: nn.Module = (
            nn.Identity() if cfg.dim == config.slow.dim else nn.Linear(config.slow.dim, cfg.dim, bias=False)
        )
        self.embeddings = nn.Embedding(config.codebook_size, cfg.dim)
        self.layers = nn.ModuleList(TransformerBlock(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, config.codebook_size, bias=False)
        self.register_buffer(
            "rope", rope_table(cfg.max_seq_len, cfg.head_dim, cfg.rope_base), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Full causal pass (training / teacher forcing).

        x: (B, T, fast_dim) already-embedded sequence -> logits (B, T, codebook_size).
        """
        rope = self.rope[: x.shape[1]]
        for layer in self.layers:
            x = layer(x, rope)
        return self.output(self.norm(x))

    def step(self, x: torch.Tensor, pos: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Positions ``pos`` of the per-frame loop, the same positions for every row.

        x: (B, T, fast_dim); pos: (T,) int64 consecutive positions; cache rows 0..B-1 are
        written and read. Shapes do not depend on the position, so one compiled graph serves
        every step. Returns the logits of the last position, (B, codebook_size).
        """
        bsz, t = x.shape[:2]
        length = cache.max_seq_len
        input_pos = pos.view(1, t).expand(bsz, t)
        mask = (torch.arange(length, device=x.device).view(1, -1) <= pos.view(-1, 1)).view(1, 1, t, length)
        rope = self.rope[pos]
        for layer in self.layers:
            x = layer(x, rope, mask, cache, input_pos)
        return linear(self.output, self.norm(x[:, -1]))

    def teacher_forced(self, hidden: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """hidden: (N, slow_dim) normed slow states; codes: (N, num_codebooks) targets.

        Returns logits (N, num_codebooks, codebook_size); row k predicts codes[:, k].
        """
        first = self.project_in(hidden).unsqueeze(1)
        rest = self.embeddings(codes[:, :-1])
        return self.forward(torch.cat([first, rest], dim=1))
