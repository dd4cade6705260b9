"""Decoder building blocks shared by the slow and fast AR: GQA attention with optional per-head
q/k RMSNorm before interleaved RoPE, a SwiGLU feed-forward, and the pre-norm block.

Parameter names follow the published checkpoint (``attention.wqkv``, ``attention.wo``,
``attention.q_norm``, ``feed_forward.w1/w2/w3``, ``attention_norm``, ``ffn_norm``), so loading needs
no renames inside a block. ``wqkv`` is fused as rows [q (n_head*hd); k (kv*hd); v (kv*hd)].

Attention has two modes:

* without a cache: full causal attention over the given sequence (prefill with no cache, and the
  training path);
* with a :class:`KVCache`: keys/values of the new tokens are written at ``input_pos`` (B, T) of
  rows ``0..B-1`` through the cache's one write path (``cache.update``), then the queries attend
  over a static window ``[0, kv_len)`` of the cache under a position mask given by the caller
  (shared by all layers). ``kv_len`` is a Python int the caller picks from a few buckets, so a
  compiled step sees a new shape only when a sequence crosses a bucket, while the attention cost
  still follows the live length rather than the cache's capacity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.models.config import TransformerConfig
from s2tts.models.kv_cache import KVCache
from s2tts.models.norm import RMSNorm, rms_normalize
from s2tts.models.products import linear
from s2tts.models.rope import apply_rope


def causal_mask(input_pos: torch.Tensor, length: int) -> torch.Tensor:
    """Key j is visible to the query at position p iff j <= p.

    input_pos: (B, T) -> (B, 1, T, length) bool.
    """
    keys = torch.arange(length, device=input_pos.device)
    return (keys.view(1, 1, -1) <= input_pos.unsqueeze(-1)).unsqueeze(1)


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig, layer_index: int = 0) -> None:
        super().__init__()
        self.layer_index = layer_index
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
        cache: KVCache | None = None,
        input_pos: torch.Tensor | None = None,
        kv_len: int | None = None,
    ) -> torch.Tensor:
        """x: (B, T, dim); rope: (T|B,T, 1, hd/2, 2, 2) rows of the RoPE table; mask: (B|1, 1, T, kv_len) bool, True = attend.

        cache/input_pos: the stack's cache and the new tokens' positions (B, T).
        kv_len: attend over cache positions [0, kv_len) (default: the whole cache).
        Returns (B, T, dim).
        """
        bsz, seqlen, _ = x.shape
        q_size, kv_size = self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        qkv = linear(self.wqkv, x)
        v = qkv[..., q_size + kv_size :].view(bsz, seqlen, self.n_kv_head, self.head_dim)
        # q and k are adjacent: normalize and rotate them together (fewer kernels per decode
        # step; per element the same arithmetic as q_norm(q) and k_norm(k) apart).
        qk = qkv[..., : q_size + kv_size].view(bsz, seqlen, self.n_head + self.n_kv_head, -1)
        if self.qk_norm:
            weight = torch.cat(
                [
                    self.q_norm.weight.expand(self.n_head, -1),
                    self.k_norm.weight.expand(self.n_kv_head, -1),
                ]
            )
            qk = rms_normalize(qk, self.q_norm.eps) * weight
        q, k = apply_rope(qk, rope).split([self.n_head, self.n_kv_head], dim=2)
        q = q.transpose(1, 2)  # (B, H, T, hd); k stays (B, T, Hkv, hd)
        if cache is not None:
            assert input_pos is not None
            keys, values = cache.update(self.layer_index, input_pos, k, v, kv_len)
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
        return linear(self.wo, out.transpose(1, 2).reshape(bsz, seqlen, q_size))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.intermediate_size, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.intermediate_size, bias=False)
        self.w2 = nn.Linear(cfg.intermediate_size, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(self.w2, F.silu(linear(self.w1, x)) * linear(self.w3, x))


class TransformerBlock(nn.Module):
    """Pre-norm block: h = x + attn(norm(x)); out = h + ffn(norm(h))."""

    def __init__(self, cfg: TransformerConfig, layer_index: int = 0) -> None:
        super().__init__()
        self.attention = Attention(cfg, layer_index)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: torch.Tensor,
        mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        input_pos: torch.Tensor | None = None,
        kv_len: int | None = None,
    ) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), rope, mask, cache, input_pos, kv_len)
        return h + self.feed_forward(self.ffn_norm(h))
