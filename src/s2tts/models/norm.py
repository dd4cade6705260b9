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
        xf = x if x.dtype == torch.float32 else x.float()
        # sum / n is how the CPU computes mean(); written out, the norm of a decode step's
        # single row costs a few small kernels where F.rms_norm costs several times more.
        normed = xf * torch.rsqrt((xf * xf).sum(-1, keepdim=True).div_(x.shape[-1]).add_(self.eps))
        return (normed if normed.dtype == x.dtype else normed.to(x.dtype)) * self.weight
