"""The slow AR: a Qwen3-style decoder over time, one column per ~21.5 Hz frame or text token.

Input is the S2 value tensor (B, 1 + num_codebooks, T): row 0 holds token ids (text or
``<|semantic:c|>``), rows 1..N the codebooks of an audio frame (0 at text positions). The input
embedding fuses the codebooks (eq. 1 of the report)::

    e_t = E[row0_t] + [row0_t is semantic] * sum_i CB[i * codebook_size + row(i+1)_t]

and at inference semantic columns are divided by sqrt(N + 1) (``scale_codebook_embeddings``). The
reference's training path omits that division; ``embed(..., scale=False)`` reproduces it.

Outputs are the final-RMSNorm hidden states (B, T, dim) -- the fast AR's input -- and, on request,
logits against the tied embedding matrix (B, T, vocab).
"""

from __future__ import annotations

import torch
from torch import nn

from s2tts.models.config import DualARConfig
from s2tts.models.kv_cache import KVCache
from s2tts.models.layers import TransformerBlock, causal_mask
from s2tts.models.norm import RMSNorm
from s2tts.models.rope import rope_table


class SlowTransformer(nn.Module):
    def __init__(self, config: DualARConfig) -> None:
        super().__init__()
        cfg = config.slow
        self.config = config
        self.embeddings = nn.Embedding(config.vocab_size, cfg.dim)
        self.codebook_embeddings = nn.Embedding(config.codebook_size * config.num_codebooks, cfg.dim)
        self.layers = nn.ModuleList(TransformerBlock(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.register_buffer(
            "rope", rope_table(cfg.max_seq_len, cfg.head_dim, cfg.rope_base), persistent=False
        )
        offsets = torch.arange(config.num_codebooks) * config.codebook_size
        self.register_buffer("codebook_offsets", offsets.view(1, -1, 1), persistent=False)

    def embed(self, values: torch.Tensor, scale: bool = True) -> torch.Tensor:
        """values: (B, 1 + N, T) int64 -> (B, T, dim)."""
        cfg = self.config
        tokens = values[:, 0]
        x = self.embeddings(tokens)
        semantic = (tokens >= cfg.semantic_begin_id) & (tokens <= cfg.semantic_end_id)  # (B, T)
        codes = values[:, 1:].clamp(0, cfg.codebook_size - 1) + self.codebook_offsets  # (B, N, T)
        fused = self.codebook_embeddings(codes).sum(dim=1)  # (B, T, dim)
        x = x + fused * semantic.unsqueeze(-1).to(fused.dtype)
        if scale and cfg.scale_codebook_embeddings:
            factor = torch.where(semantic, 1.0 / cfg.codebook_scale, 1.0).to(x.dtype)
            x = x * factor.unsqueeze(-1)
        return x

    def forward(
        self,
        values: torch.Tensor,
        input_pos: torch.Tensor | None = None,
        cache: KVCache | None = None,
        kv_len: int | None = None,
        mask: torch.Tensor | None = None,
        scale: bool = True,
        return_layers: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the decoder stack.

        values: (B, 1+N, T). Without a cache: full causal attention at positions 0..T-1.
        With a cache: tokens sit at ``input_pos`` (B, T) of rows 0..B-1 and attend to cache
        positions [0, kv_len) (default: the whole cache); ``mask`` (B, 1, T, kv_len) defaults to
        the causal mask of input_pos, so the shapes depend on kv_len, not on the positions.
        Returns the normed hidden states (B, T, dim) (plus each block's output if return_layers).
        """
        x = self.embed(values, scale=scale)
        # (T, hd/2, 2) for positions 0..T-1, else (B, T, hd/2, 2) at the given positions
        rope = self.rope[: x.shape[1]] if input_pos is None else self.rope[input_pos]
        if cache is not None:
            assert input_pos is not None, "a cache needs explicit input positions"
            kv_len = kv_len if kv_len is not None else cache.max_seq_len
            if mask is None:
                mask = causal_mask(input_pos, kv_len)
        outputs: list[torch.Tensor] = []
        for layer in self.layers:
            x = layer(x, rope, mask, cache, input_pos, kv_len)
            if return_layers:
                outputs.append(x)
        hidden = self.norm(x)
        return (hidden, outputs) if return_layers else hidden

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: (..., dim) -> (..., vocab) against the tied embedding matrix."""
        return hidden @ self.embeddings.weight.t()
