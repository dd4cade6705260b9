"""RMSNorm as S2 computes it: the statistics in fp32, the result cast back, then times the weight."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last dimension.

    x: (..., dim) -> (..., dim), same dtype as x.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_normalize(x, self.eps) * self.weight


def rms_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """x / rms(x) over the last dimension, statistics in fp32, result in x's dtype (no weight).

    x: (..., dim) -> (..., dim). ``sum / n`` is how the CPU computes ``mean()``; written out, the
    norm of a decode step's single row costs a few small kernels (F.rms_norm costs more there).
    """
    xf = x if x.dtype == torch.float32 else x.float()
    normed = xf * torch.rsqrt((xf * xf).sum(-1, keepdim=True).div_(x.shape[-1]).add_(eps))
    return normed if normed.dtype == x.dtype else normed.to(x.dtype)
