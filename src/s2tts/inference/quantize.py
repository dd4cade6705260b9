"""Weight-only int8 quantization of the Linear layers of both ARs (gpt-fast style).

Each (out, in) weight becomes int8 values with one scale per output channel (symmetric,
scale = max|w_row| / 127), computed once from the loaded weights. Activations stay in floating
point. Decoding reads every weight once per step, so a quarter of the fp32 bytes is the point.

* On the CPU the product runs in ``torch._weight_int8pack_mm`` with bf16 activations (its fp32
  path is slow); the result is cast back to the input's dtype.
* Elsewhere (CUDA) the weight is dequantized inside the product, ``linear(x, w.to(x.dtype)) *
  scale``, which inductor fuses when the decode frame is compiled.

The embeddings (and the tied semantic head taken from them) stay in floating point.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.errors import ConfigError

QUANTIZE_MODES = ("int8",)


def quantize_weight_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """weight (out, in) float -> (int8 values (out, in), fp32 scales (out,)), per output channel."""
    w = weight.detach().float()
    scales = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    values = torch.round(w / scales.unsqueeze(1)).clamp(-127, 127).to(torch.int8)
    return values.contiguous(), scales


class Int8Linear(nn.Module):
    """A bias-free Linear with int8 weights (out, in) and per-channel scales (out,).

    x (..., in) -> (..., out) in x's dtype.
    """

    def __init__(self, values: torch.Tensor, scales: torch.Tensor) -> None:
        super().__init__()
        self.in_features = values.shape[1]
        self.out_features = values.shape[0]
        self.register_buffer("weight", values)
        self.register_buffer("scales", scales.float())
        # bf16 scales for the CPU kernel, which wants them in the activations' dtype.
        self.register_buffer("scales_bf16", scales.to(torch.bfloat16))

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        if linear.bias is not None:
            raise ConfigError("int8 quantization supports bias-free Linear layers only")
        values, scales = quantize_weight_int8(linear.weight)
        return cls(values, scales).to(linear.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu":
            flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
            out = torch._weight_int8pack_mm(flat, self.weight, self.scales_bf16)
            return out.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
        return F.linear(x, self.weight.to(x.dtype)) * self.scales.to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` under ``model`` by an :class:`Int8Linear` (in place)."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, Int8Linear.from_linear(child))
    return model


def is_quantized(model: nn.Module) -> bool:
    return any(isinstance(m, Int8Linear) for m in model.modules())
