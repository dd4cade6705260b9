"""Decoder building blocks shared by the slow and fast AR: GQA attention with optional per-head
q/k RMSNorm before interleaved RoPE, a SwiGLU feed-forward, and the pre-norm block.

Parameter names follow the published checkpoint (``attention.wqkv``, ``attention.wo``,
``attention.q_norm``, ``feed_forward.w1/w2/w3``, ``attention_norm``, ``ffn_norm``), so loading needs
no renames inside a block. ``wqkv`` is fused as rows [q (n_head*hd); k (kv*hd); v (kv*hd)].

Attention has two modes:

* without a cache: full causal attention over the given sequence (prefill with no cache, and the
  training path);
* with a cache layer ``(k_cache, v_cache)`` of shape (B_max, H_kv, T_max, hd): keys/values of the
  new tokens are written at ``input_pos`` (B, T) in rows ``0..B-1``, then each query attends to
  cached positions ``<=`` its own (the mask is given by the caller, shared by all layers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.models.config import TransformerConfig
from s2tts.models.norm import RMSNorm
from s2tts.models.rope import apply_rope


def causal_mask(input_pos: torch.Tensor, length: int) -> torch.Tensor:
    """Key j is visible to the query at position p iff j <= p.

    input_pos: (B, T) -> (B, 1, T, length) bool.
    """
    keys = torch.arange(length, device=input_pos.device)
    return (keys.view(1, 1, -1) <= input_pos.unsqueeze(-1)).unsqueeze(1)


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.n_kv_head = cfg.n_kv_head
        self.head_dim = cfg.head_dim
        self.wqkv = nn.Linear(cfg.dim, cfg.q_size + 2 * cfg.kv_size, bias=cfg.qkv_bias)
        self.wo = nn.Linear(cfg.q_size, cfg.dim, bias=cfg.o_bias)
        self.qk_norm = cfg.qk_norm
        if cfg.qk_norm:
            self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)
            self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: torch.Tensor,
        mask: torch.Tensor | None = None,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        input_pos: torch.Tensor | None = None,
        kv_len: int | None = None,
        start_pos: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, T, dim); rope: (T|B,T, hd/2, 2); mask: (B, 1, T, L) bool, True = attend.

        cache/input_pos: cache layer tensors (B_max, H_kv, T_max, hd) and positions (B, T).
        kv_len: attend over cache positions [0, kv_len) only (default: the whole cache).
        start_pos: when every row writes positions start_pos..start_pos+T-1, a plain slice write
        replaces the scattered one (cheaper; the result is the same). A (T,) tensor means every
        row writes at those positions (index_copy: one graph for all positions when compiled).
        Returns (B, T, dim).
        """
        bsz, seqlen, _ = x.shape
        q_size, kv_size = self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        q, k, v = self.wqkv(x).split([q_size, kv_size, kv_size], dim=-1)
        q = q.view(bsz, seqlen, self.n_head, self.head_dim)
        k = k.view(bsz, seqlen, self.n_kv_head, self.head_dim)
        v = v.view(bsz, seqlen, self.n_kv_head, self.head_dim)
        if self.qk_norm:
            q = self.q_norm(q)
            k = self.k_norm(k)
        q = apply_rope(q, rope).transpose(1, 2)  # (B, H, T, hd)
        k = apply_rope(k, rope)  # (B, T, Hkv, hd)
        if cache is not None:
            assert input_pos is not None
            k_cache, v_cache = cache
            if isinstance(start_pos, torch.Tensor):
                k_cache[:bsz].index_copy_(2, start_pos, k.transpose(1, 2).to(k_cache.dtype))
                v_cache[:bsz].index_copy_(2, start_pos, v.transpose(1, 2).to(v_cache.dtype))
            elif start_pos is not None:
                k_cache[:bsz, :, start_pos : start_pos + seqlen] = k.transpose(1, 2)
                v_cache[:bsz, :, start_pos : start_pos + seqlen] = v.transpose(1, 2)
            else:
                rows = torch.arange(bsz, device=x.device).unsqueeze(1)  # (B, 1)
                # Advanced indices on dims 0 and 2 around a slice: the indexed view is (B, T, Hkv, hd).
                k_cache[rows, :, input_pos] = k.to(k_cache.dtype)
                v_cache[rows, :, input_pos] = v.to(v_cache.dtype)
            length = kv_len if kv_len is not None else k_cache.shape[2]
            keys = k_cache[:bsz, :, :length]
            values = v_cache[:bsz, :, :length]
        else:
            keys = k.transpose(1, 2)
            values = v.transpose(1, 2)
        out = F.scaled_dot_product_attention(
            q,
            keys,
            values,
            attn_mask=mask,
            is_causal=mask is None and cache is None,
            enable_gqa=self.n_head != self.n_kv_head,
        )
        return self.wo(out.transpose(1, 2).reshape(bsz, seqlen, q_size))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.intermediate_size, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.intermediate_size, bias=False)
        self.w2 = nn.Linear(cfg.intermediate_size, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-norm block: h = x + attn(norm(x)); out = h + ffn(norm(h))."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: torch.Tensor,
        mask: torch.Tensor | None = None,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        input_pos: torch.Tensor | None = None,
        kv_len: int | None = None,
        start_pos: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), rope, mask, cache, input_pos, kv_len, start_pos)
        return h + self.feed_forward(self.ffn_norm(h))
