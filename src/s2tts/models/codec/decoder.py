"""Decoder of the S2 codec: latent (B, T, latent_dim) -> audio (B, T * hop, 1) in [-1, 1], causal.

    conv k7 (latent_dim -> dim)
    per rate s_i, width w_i = dim // 2**(i+1):
        Snake -> causal transposed conv k=2*s_i, stride s_i (w_i*2 -> w_i) -> 3 residual units
        (dilations 1, 3, 9)
    Snake -> conv k7 (w_last -> 1) -> tanh

The reference config lists decoder transformer layers, but its decoder never inserts them, so the
released decoder has none (reference-spec §4). Keys: ``model.{0..}``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.layers import (
    CausalConv1d,
    CausalConvTranspose1d,
    CausalSequential,
    ResidualUnit,
    Snake,
    Tanh,
)


class DecoderBlock(nn.Module):
    """(B, T, 2*width) -> (B, T*stride, width). Keys ``block.{0..4}``."""

    def __init__(self, in_width: int, width: int, stride: int) -> None:
        super().__init__()
        self.block = CausalSequential(
            [Snake(in_width), CausalConvTranspose1d(in_width, width, 2 * stride, stride=stride)]
            + [ResidualUnit(width, d) for d in (1, 3, 9)]
        )

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return self.block.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        return self.block.step(x, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Decoder(nn.Module):
    """latent (B, T, latent_dim) -> audio (B, T * hop, 1), time-major."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        d = config.decoder
        widths = [d.dim // 2**i for i in range(len(d.rates) + 1)]
        self.model = CausalSequential(
            [CausalConv1d(config.latent_dim, d.dim, 7)]
            + [DecoderBlock(widths[i], widths[i + 1], r) for i, r in enumerate(d.rates)]
            + [Snake(widths[-1]), CausalConv1d(widths[-1], 1, 7), Tanh()]
        )

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return self.model.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        return self.model.step(x, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
