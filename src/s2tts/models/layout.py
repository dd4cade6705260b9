"""Memory layout of Linear weights for fast CPU decoding.

At batch 1 every projection is a matrix-vector product. On the x86 CPUs we measured, MKL's
fp32 matrix-vector product is 1.7-1.9x faster when the (out, in) weight is stored column-major,
i.e. as the transpose of a contiguous (in, out) tensor; at batch >= 8 the two layouts are equal,
and for bf16 the row-major layout is much faster. ``use_decode_layout`` switches fp32 CPU
weights to column-major storage in place: shapes, values and state-dict keys are unchanged
(``save_model`` writes contiguous tensors), only the strides differ. A compiled decode frame
wants the row-major layout back (``use_row_major``): its one-row products are generated
reduction loops (``models.products``) that stream row-major weights fastest.
"""

from __future__ import annotations

import torch
from torch import nn


def column_major(weight: torch.Tensor) -> torch.Tensor:
    """The same (out, in) matrix stored in (in, out) memory order."""
    return weight.detach().t().contiguous().t()


def wants_column_major(weight: torch.Tensor) -> bool:
    return weight.device.type == "cpu" and weight.dtype == torch.float32 and weight.dim() == 2


def use_decode_layout(model: nn.Module) -> nn.Module:
    """Store every fp32 CPU ``nn.Linear`` weight column-major (idempotent); returns the model."""
    for module in model.modules():
        if (
            isinstance(module, nn.Linear)
            and wants_column_major(module.weight)
            and module.weight.is_contiguous()
        ):
            grad = module.weight.requires_grad
            module.weight = nn.Parameter(column_major(module.weight), requires_grad=grad)
    return model


def use_row_major(model: nn.Module) -> nn.Module:
    """Store every ``nn.Linear`` weight contiguous (row-major) again (idempotent); returns the model."""
    for module in model.modules():
        if isinstance(module, nn.Linear) and not module.weight.is_contiguous():
            grad = module.weight.requires_grad
            module.weight = nn.Parameter(module.weight.detach().contiguous(), requires_grad=grad)
    return model
