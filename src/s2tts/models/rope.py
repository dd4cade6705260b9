"""Rotary position embedding on interleaved pairs, with S2's bf16-rounded table.

S2 (both the Dual-AR LM and the codec's window-limited transformers) rotates adjacent pairs
(x[2i], x[2i+1]) -- the GPT-J layout, not HF's rotate_half -- by angle ``pos * base^(-2i/d)``.
The cos/sin table is computed in fp32 and then **rounded to bf16**, while the rotation itself
runs in fp32. The released weights were trained that way, so matching the rounding is required
to reproduce the reference to ~1e-7 (and to get clean audio from the real checkpoint).
"""

from __future__ import annotations

import torch


def rope_table(
    seq_len: int, head_dim: int, base: float, device: torch.device | str | None = None
) -> torch.Tensor:
    """Build the rotary table.

    Returns: (seq_len, head_dim // 2, 2) float32 holding [cos, sin], values rounded to bf16.
    """
    exponents = torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim
    inv_freq = 1.0 / (base**exponents)
    positions = torch.arange(seq_len, device=device)
    angles = torch.outer(positions, inv_freq)
    table = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    return table.to(torch.bfloat16).float()


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of the last dimension.

    x: (B, T, H, D); table: (T, D//2, 2) or (B, T, D//2, 2) -> (B, T, H, D), dtype of x.
    """
    xf = x.float().reshape(*x.shape[:-1], -1, 2)
    if table.dim() == 3:
        table = table.unsqueeze(0)
    t = table.unsqueeze(2)  # (B|1, T, 1, D//2, 2)
    cos, sin = t[..., 0], t[..., 1]
    x0, x1 = xf[..., 0], xf[..., 1]
    out = torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1)
    return out.flatten(-2).type_as(x)
