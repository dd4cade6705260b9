"""Rotary position embedding on interleaved pairs, with S2's bf16-rounded table.

S2 (both the Dual-AR LM and the codec's window-limited transformers) rotates adjacent pairs
(x[2i], x[2i+1]) -- the GPT-J layout, not HF's rotate_half -- by angle ``pos * base^(-2i/d)``.
The cos/sin table is computed in fp32 and then **rounded to bf16**, while the rotation itself
runs in fp32. The released weights were trained that way, so matching the rounding is required
to reproduce the reference to ~1e-7 (and to get clean audio from the real checkpoint).

The table stores the rotation as two factors per pair, ``[[cos, cos], [-sin, sin]]``, so that
applying it is ``x * f0 + swap(x) * f1`` (swap = (x1, x0)): per element the same products and
the same sum as ``(x0 cos - x1 sin, x1 cos + x0 sin)``, bit for bit, in a handful of kernels
(decoding applies it ~90 times a frame, where the op count is what costs).
"""

from __future__ import annotations

import torch


def rope_table(
    seq_len: int, head_dim: int, base: float, device: torch.device | str | None = None
) -> torch.Tensor:
    """Build the rotary table.

    Returns: (seq_len, 1, head_dim // 2, 2, 2) float32 (the 1 broadcasts over heads):
    [..., 0, :] = (cos, cos) and [..., 1, :] = (-sin, sin), values rounded to bf16. Index the
    leading (position) dimension.
    """
    exponents = torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim
    inv_freq = 1.0 / (base**exponents)
    positions = torch.arange(seq_len, device=device)
    angles = torch.outer(positions, inv_freq)
    cos = torch.cos(angles).to(torch.bfloat16).float()
    sin = torch.sin(angles).to(torch.bfloat16).float()
    table = torch.stack([torch.stack([cos, cos], -1), torch.stack([-sin, sin], -1)], dim=-2)
    return table.unsqueeze(1)


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of the last dimension.

    x: (B, T, H, D); table: (T, 1, D//2, 2, 2) or (B, T, 1, D//2, 2, 2) rows of
    :func:`rope_table` -> (B, T, H, D), dtype of x.
    """
    xf = x if x.dtype == torch.float32 else x.float()
    xf = xf.reshape(*x.shape[:-1], -1, 2)  # (B, T, H, D/2, 2)
    same, swapped = table.unbind(-2)  # (B|., T, 1, D/2, 2) each
    out = (xf * same + xf.flip(-1) * swapped).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)
