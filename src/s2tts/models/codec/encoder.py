"""Encoder of the S2 codec: audio (B, n, 1) -> latent (B, n / hop, latent_dim), causal.

    conv k7 (1 -> dim)
    per rate s_i, width w_i = dim * 2**(i+1):
        3 residual units at w_i/2 (dilations 1, 3, 9) -> Snake -> causal conv k=2*s_i, stride s_i
        [-> window-limited transformer at w_i, if ``transformer_layers[i] > 0``]
    Snake -> conv k3 (w_last -> latent_dim)

Keys: ``block.0`` first conv, ``block.{1..}`` blocks (each ``block.{0..5}``), then Snake and conv.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.layers import CausalConv1d, CausalSequential, ResidualUnit, Snake
from s2tts.models.codec.transformer import WindowTransformer


class EncoderBlock(nn.Module):
    """(B, T, width/2) -> (B, T/stride, width)."""

    def __init__(self, config: CodecConfig, index: int) -> None:
        super().__init__()
        e = config.encoder
        width, stride = e.dim * 2 ** (index + 1), e.rates[index]
        half = width // 2
        layers: list[nn.Module] = [ResidualUnit(half, d) for d in (1, 3, 9)]
        layers += [Snake(half), CausalConv1d(half, width, 2 * stride, stride=stride)]
        if e.transformer_layers[index]:
            layers.append(
                WindowTransformer(
                    width,
                    n_layer=e.transformer_layers[index],
                    n_head=width // e.transformer_head_dim,
                    head_dim=e.transformer_head_dim,
                    intermediate_size=width * e.transformer_ffn_ratio,
                    window_size=e.transformer_window,
                    rope_base=e.rope_base,
                    norm_eps=e.norm_eps,
                )
            )
        self.block = CausalSequential(layers)

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return self.block.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        return self.block.step(x, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    """audio (B, n, 1) time-major -> latent (B, n / hop, latent_dim); ``n`` a multiple of hop."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        e = config.encoder
        width = config.encoder_width
        self.block = CausalSequential(
            [CausalConv1d(1, e.dim, 7)]
            + [EncoderBlock(config, i) for i in range(len(e.rates))]
            + [Snake(width), CausalConv1d(width, config.latent_dim, 3)]
        )

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return self.block.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        return self.block.step(x, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)
