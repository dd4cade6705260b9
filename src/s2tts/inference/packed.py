"""oneDNN-packed copies of fp32 Linear weights, for eager products of several rows on the CPU.

A batched decode step (the engine serving several streams, a prompt's prefill) multiplies a few
rows by every weight matrix. The library's fp32 GEMM repacks the weight on every call, and at 4-16
rows it streams the weights at only 4-8 GB/s on the development machine (AMD EPYC), a third of the
memory bandwidth. The same product through oneDNN with the weight reordered once into its blocked
layout streams 8-16 GB/s (``docs/benchmarks.md``), which makes a batch-4 decode step ~1.6x and a
batch-16 step ~1.4x faster. One row keeps the column-major library product (``models.layout``),
which is faster there.

The price is memory: the packed copy sits beside the weight, so the Linear layers take twice their
bytes. ``prepare_for_decode(..., batch=n)`` packs only when n > 1, for fp32 CPU weights, when the
decode frame is not compiled and oneDNN is available.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def packing_available() -> bool:
    """oneDNN (mkldnn) is built into this torch and usable on this CPU."""
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class PackedLinear(nn.Module):
    """An fp32 Linear that keeps its weight (same parameter, same state-dict keys) and a oneDNN
    blocked copy of it for products of more than one row.

    x (..., in) -> (..., out). One row, another dtype than fp32, or inside ``torch.compile``:
    ``F.linear`` on the weight.
    """

    def __init__(self, linear: nn.Linear, batch_hint: int) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        # An opaque oneDNN tensor, not a buffer: never saved, never moved by ``.to()``.
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach().contiguous(), batch_hint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if (
            rows == 1
            or x.dtype != torch.float32
            or self.weight.dtype != torch.float32
            or torch.compiler.is_compiling()  # the opaque oneDNN tensor does not trace
        ):
            return F.linear(x, self.weight, self.bias)
        out = torch.ops.mkldnn._linear_pointwise(
            x.reshape(rows, self.in_features), self.packed, self.bias, "none", [], ""
        )
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


def pack_linears(model: nn.Module, batch_hint: int) -> nn.Module:
    """Replace every fp32 CPU ``nn.Linear`` under ``model`` by a :class:`PackedLinear` (in place,
    idempotent); returns the model."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if (
                type(child) is nn.Linear
                and child.weight.dtype == torch.float32
                and child.weight.device.type == "cpu"
            ):
                setattr(module, name, PackedLinear(child, batch_hint))
    return model


def unpack_linears(model: nn.Module) -> nn.Module:
    """Put plain ``nn.Linear`` layers back (same weight tensors); returns the model."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, PackedLinear):
                plain = nn.Linear(
                    child.in_features, child.out_features, bias=child.bias is not None, device="meta"
                )
                plain.weight = child.weight
                plain.bias = child.bias
                setattr(module, name, plain)
    return model
