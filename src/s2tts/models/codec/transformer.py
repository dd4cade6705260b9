"""Window-limited causal transformer of the codec, one-shot or streaming with a sliding KV cache.

Pre-norm blocks: ``h = x + ls_a * attn(rmsnorm(x))``, ``y = h + ls_f * ffn(rmsnorm(h))`` with a
SwiGLU FFN ``w2(silu(w1 x) * w3 x)``, LayerScale vectors ``attention_layer_scale.gamma`` /
``ffn_layer_scale.gamma``, and a final RMSNorm. Attention: fused ``wqkv`` (no bias), one KV head
per query head, RoPE on interleaved pairs with the bf16-rounded table (base 1e4), scale
1/sqrt(head_dim).

Window: query at position ``t`` sees keys at ``[t - window + 1, t]``.

Positions: a one-shot call over ``T`` frames uses positions ``0..T-1`` (the reference restarts them
at 0 for every call). Because the rotary table is rounded to bf16, rotations are only *almost*
relative, so a streaming step must use each frame's **absolute** position in its stream for its
output to equal the one-shot output. The state keeps that position per stream (``pos``, shape (B,)),
which also lets streams that started at different times share one batch.

KV cache: per layer, the keys/values of the previous ``window - 1`` positions, zero-filled and
masked out until a stream has that many. Each step concatenates it with the new keys, attends with
a band mask, and keeps the last ``window - 1``. Long one-shot inputs are processed in blocks of
``max(window, 128)`` queries, so memory stays O(T * window) instead of O(T^2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.models.codec.streaming import TransformerState, WindowKVCache
from s2tts.models.norm import RMSNorm
from s2tts.models.rope import apply_rope, rope_table


class LayerScale(nn.Module):
    """x * gamma, gamma: (dim,)."""

    def __init__(self, dim: int, init: float = 1e-2) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Attention(nn.Module):
    """Multi-head attention over [cached keys ; new keys]. x: (B, T, dim) -> (B, T, dim)."""

    def __init__(self, dim: int, n_head: int, head_dim: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.head_dim = head_dim
        self.wqkv = nn.Linear(dim, 3 * n_head * head_dim, bias=False)
        self.wo = nn.Linear(n_head * head_dim, dim, bias=False)

    def forward(
        self, x: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor, cache: WindowKVCache
    ) -> torch.Tensor:
        """rope: (B, T, 1, head_dim/2, 2, 2) rows of the RoPE table; mask: (B, 1, T, W-1+T) bool;
        cache updated in place."""
        b, t, _ = x.shape
        q, k, v = self.wqkv(x).view(b, t, 3, self.n_head, self.head_dim).unbind(2)
        q = apply_rope(q, rope).transpose(1, 2)  # (B, H, T, D)
        k = apply_rope(k, rope).transpose(1, 2)
        v = v.transpose(1, 2)
        keys = torch.cat([cache.k, k], dim=2)  # (B, H, W-1+T, D)
        values = torch.cat([cache.v, v], dim=2)
        kept = cache.k.shape[2]
        cache.k = keys[:, :, keys.shape[2] - kept :]
        cache.v = values[:, :, values.shape[2] - kept :]
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(b, t, self.n_head * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x). x: (B, T, dim) -> (B, T, dim)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)).mul_(self.w3(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, n_head: int, head_dim: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.attention = Attention(dim, n_head, head_dim)
        self.feed_forward = FeedForward(dim, hidden)
        self.attention_norm = RMSNorm(dim, eps)
        self.ffn_norm = RMSNorm(dim, eps)
        self.attention_layer_scale = LayerScale(dim)
        self.ffn_layer_scale = LayerScale(dim)

    def forward(
        self, x: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor, cache: WindowKVCache
    ) -> torch.Tensor:
        h = x + self.attention_layer_scale(self.attention(self.attention_norm(x), rope, mask, cache))
        return h + self.ffn_layer_scale(self.feed_forward(self.ffn_norm(h)))


class WindowTransformer(nn.Module):
    """Stack of blocks + final RMSNorm. x: (B, T, dim) -> (B, T, dim); keys ``layers.N.*``, ``norm``."""

    def __init__(
        self,
        dim: int,
        n_layer: int,
        n_head: int,
        head_dim: int,
        intermediate_size: int,
        window_size: int,
        rope_base: float = 10000.0,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.n_head = n_head
        self.head_dim = head_dim
        self.window_size = window_size
        self.rope_base = rope_base
        self.block_size = max(window_size, 128)
        self.layers = nn.ModuleList(
            TransformerBlock(dim, n_head, head_dim, intermediate_size, norm_eps) for _ in range(n_layer)
        )
        self.norm = RMSNorm(dim, norm_eps)
        # Rotary table cache, per device; grown by doubling. Derived data, not a buffer or state.
        self._rope: dict[torch.device, torch.Tensor] = {}

    def _apply(
        self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True
    ) -> nn.Module:  # .to()/.cuda(): tables for old devices are stale
        self._rope = {}
        return super()._apply(fn, recurse)

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> TransformerState:
        shape = (batch_size, self.n_head, self.window_size - 1, self.head_dim)
        layers = [
            WindowKVCache(
                torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)
            )
            for _ in self.layers
        ]
        return TransformerState(layers, torch.zeros(batch_size, dtype=torch.long, device=device), 0)

    def _table(self, length: int, device: torch.device) -> torch.Tensor:
        table = self._rope.get(device)
        if table is None or table.shape[0] < length:
            size = max(length, 2 * table.shape[0] if table is not None else 1024)
            table = rope_table(size, self.head_dim, self.rope_base, device)
            self._rope[device] = table
        return table

    def step(self, x: torch.Tensor, state: TransformerState) -> torch.Tensor:
        if x.shape[1] > self.block_size:
            blocks = x.split(self.block_size, dim=1)
            return torch.cat([self._step(block, state) for block in blocks], dim=1)
        return self._step(x, state)

    def _step(self, x: torch.Tensor, state: TransformerState) -> torch.Tensor:
        t = x.shape[1]
        kept = self.window_size - 1
        device = x.device
        steps = torch.arange(t, device=device)
        positions = state.pos[:, None] + steps  # (B, T)
        rope = self._table(state.end + t, device)[positions]  # (B, T, 1, D/2, 2, 2)
        # Key slot j holds position pos - kept + j; query i sits at pos + i.
        slots = torch.arange(kept + t, device=device)
        lag = kept + steps[:, None] - slots[None, :]  # query position - key position
        band = (lag >= 0) & (lag <= kept)  # (T, kept+T)
        started = slots[None, :] >= (kept - state.pos)[:, None]  # (B, kept+T): key position >= 0
        mask = (band[None] & started[:, None]).unsqueeze(1)  # (B, 1, T, kept+T)
        for layer, cache in zip(self.layers, state.layers, strict=True):
            x = layer(x, rope, mask, cache)
        state.pos = state.pos + t
        state.end += t
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))
