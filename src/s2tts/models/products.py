"""The Linear products of the decoder stacks, with a faster form for a few rows in a compiled CPU frame.

A batch-1 decode step multiplies one activation row by every weight matrix: a matrix-vector
product that only has to stream the weights. Under ``torch.compile`` on the CPU, inductor hands
``x @ W.T`` to the library's GEMM (an "extern" ``mm`` call per product), which at one row streams a
bf16 matrix at 7-10 GB/s and an fp32 one at 10-16 GB/s on the 2-core development machine. Written
as a broadcast multiply and a sum over the input dimension, the same product becomes one generated,
vectorised reduction loop that reads a row-major weight at 13-16 GB/s in bf16 and 15-22 GB/s in fp32
(accumulating in fp32), and it can fuse with what surrounds it. Up to four rows it still streams
faster than the library's product in either layout; from eight rows on the two are level, and the
library's blocked GEMM is the safer choice. ``bench/lm_decode.py`` measures the whole-frame effect;
``docs/benchmarks.md`` has the figures.

:func:`linear` picks the form: the reduction only for at most :data:`MAX_ROWS` rows, on the CPU,
while compiling, for a plain ``nn.Linear`` whose weight is row-major (the column-major fp32 decode
layout of ``models.layout`` suits the library's product instead). Everything else -- training, prefill,
batches, CUDA, eager decoding, int8 or LoRA layers -- calls the layer itself, unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

MAX_ROWS = 4  # rows (batch x positions) up to which a compiled CPU product is the fused reduction


def row_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x (..., in) times weight (out, in)^T (+ bias (out,)) as a reduction accumulated in fp32.

    Returns (..., out) in x's dtype. Equal to ``F.linear`` up to the order of the sum.
    """
    out = (x.unsqueeze(-2).float() * weight.float()).sum(-1)
    if bias is not None:
        out = out + bias.float()
    return out if out.dtype == x.dtype else out.to(x.dtype)


def use_row_product(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """True when a product of x (..., in) and weight (out, in) should be the fused reduction:
    at most :data:`MAX_ROWS` rows, on the CPU, inside ``torch.compile``, with a row-major weight."""
    return (
        torch.compiler.is_compiling()
        and x.device.type == "cpu"
        and x.numel() <= MAX_ROWS * x.shape[-1]
        and weight.dim() == 2
        and weight.is_contiguous()
    )


def linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` for any projection layer, as the fused reduction where :func:`use_row_product`
    says so and the layer is a plain ``nn.Linear`` (subclasses such as LoRA and other modules such
    as int8 layers run their own forward). x (..., in) -> (..., out)."""
    if type(layer) is nn.Linear and use_row_product(x, layer.weight):
        return row_product(x, layer.weight, layer.bias)
    return layer(x)
