"""Spectral encoder: audio (B, n, 1) -> latent (B, n / hop, latent_dim), causal and streamable.

    causal STFT (periodic Hann window of n_fft, hop = prod(encoder.rates)) -> log-magnitude
    -> conv k3 (bins -> dim) -> LayerNorm -> ConvNeXt blocks (causal depthwise k7) at the latent
    rate -> LayerNorm -> linear (dim -> latent_dim)

Not part of the released codec family: the mirror of the iSTFT decoder (:mod:`.istft`) for small
codecs trained on CPU. The released encoder's convolutions run at the audio rate, where even an
8-channel encoder costs most of a training step on a CPU and, measured with phone probes, loses
most of the phonetic information; here every layer but the FFT runs at the latent frame rate, so
the encoder can be wide at a fraction of the cost.

Causal STFT: latent frame ``t`` is the spectrum of samples ``[(t+1)*hop - n_fft, (t+1)*hop)``
(zeros before the start), so it sees nothing after its own hop. ``step`` carries the last
``n_fft - hop`` samples as state; chunked output equals one-shot output.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.layers import CausalConv1d, CausalSequential, ConvNeXtBlock
from s2tts.models.codec.streaming import ConvState

LOG_FLOOR = 1e-5  # magnitude floor before the log (-11.5)


class CausalSTFT(nn.Module):
    """audio (B, n, 1), n a multiple of hop -> log-magnitudes (B, n / hop, n_fft // 2 + 1)."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        if n_fft % hop or n_fft < hop:
            raise ValueError(f"n_fft {n_fft} must be a multiple of hop {hop}")
        self.n_fft, self.hop = n_fft, hop

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> ConvState:
        return ConvState(torch.zeros(batch_size, self.n_fft - self.hop, 1, device=device, dtype=dtype))

    def step(self, x: torch.Tensor, state: ConvState) -> torch.Tensor:
        if x.shape[1] % self.hop:
            raise ValueError(f"STFT step needs a multiple of {self.hop} samples, got {x.shape[1]}")
        full = torch.cat([state.buffer.to(x.dtype), x], dim=1)  # (B, n_fft - hop + n, 1)
        state.buffer = full[:, full.shape[1] - (self.n_fft - self.hop) :].detach().clone()
        frames = full[:, :, 0].float().unfold(1, self.n_fft, self.hop)  # (B, n / hop, n_fft)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=frames.dtype, device=frames.device)
        mag = torch.fft.rfft(frames * window, dim=-1).abs()
        return torch.log(mag.clamp_min(LOG_FLOOR)).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))


class STFTEncoder(nn.Module):
    """audio (B, n, 1) -> latent (B, n / hop, latent_dim). Keys ``embed``, ``embed_norm``,
    ``blocks.N``, ``norm``, ``head``."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        e = config.encoder
        self.hop = math.prod(e.rates)
        self.n_fft = e.stft_n_fft or 2 * self.hop
        self.stft = CausalSTFT(self.n_fft, self.hop)
        self.embed = CausalConv1d(self.n_fft // 2 + 1, e.dim, 3)
        self.embed_norm = nn.LayerNorm(e.dim, eps=1e-6)
        self.blocks = CausalSequential([ConvNeXtBlock(e.dim) for _ in range(e.stft_layers)])
        with torch.no_grad():  # layer scale 1/L, as the iSTFT decoder
            for block in self.blocks:
                block.gamma.fill_(1.0 / max(e.stft_layers, 1))
        self.norm = nn.LayerNorm(e.dim, eps=1e-6)
        self.head = nn.Linear(e.dim, config.latent_dim)

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return [
            self.stft.init_state(batch_size, device, dtype),
            self.embed.init_state(batch_size, device, dtype),
            self.blocks.init_state(batch_size, device, dtype),
        ]

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        h = self.embed_norm(self.embed.step(self.stft.step(x, state[0]), state[1]))
        return self.head(self.norm(self.blocks.step(h, state[2])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))
