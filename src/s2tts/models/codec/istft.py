"""Vocos-style decoder: latent (B, T, latent_dim) -> audio (B, T * hop, 1), causal and streamable.

    conv k7 (latent_dim -> dim) -> ConvNeXt blocks (causal depthwise k7) at the latent rate
    -> LayerNorm -> linear (dim -> 2 * bins) -> log-magnitude (clamped <= 4.6, as Vocos) and phase
    -> causal iSTFT (overlap-add, periodic Hann window of n_fft, hop = prod(decoder.rates))

Not part of the released codec family: a variant for small codecs trained on CPU, where its heavy
layers run at the latent frame rate (efficient matmuls) instead of at the audio rate. There is no
LayerNorm on the decoder *input*: a normalised input hides the latent's scale from the decoder,
and the latent then drifts.

Causal iSTFT: frame ``t``'s windowed inverse FFT covers samples ``[t*hop, t*hop + n_fft)``.
Samples ``[t*hop, (t+1)*hop)`` are complete once frame ``t`` is added (frames ``t - n_fft/hop + 1
.. t`` overlap there), so each step emits ``hop`` samples per frame and carries the other
``n_fft - hop`` samples of partial sums as state; chunked output equals one-shot output. The sum is
divided by the steady-state window power ``sum(w^2) / hop``, so frames taken by an STFT with the
same window and framing reconstruct the signal once ``n_fft/hop`` frames have been seen.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.layers import CausalConv1d, CausalSequential, ConvNeXtBlock
from s2tts.models.codec.streaming import ConvState

LOG_MAG_MAX = 4.6  # exp(4.6) ~ 100, as Vocos' clip


class CausalISTFT(nn.Module):
    """Complex spectra (B, T, n_fft // 2 + 1) -> audio (B, T * hop, 1) by causal overlap-add."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        if n_fft % hop:
            raise ValueError(f"n_fft {n_fft} must be a multiple of hop {hop}")
        self.n_fft, self.hop = n_fft, hop
        # Explicit CPU: the codec may be built on the meta device (shapes only) before loading.
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device="cpu")
        self.scale = float(window.square().sum() / hop)

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> ConvState:
        return ConvState(torch.zeros(batch_size, self.n_fft - self.hop, 1, device=device, dtype=dtype))

    def step(self, spec: torch.Tensor, state: ConvState) -> torch.Tensor:
        b, t, _ = spec.shape
        window = torch.hann_window(self.n_fft, periodic=True, dtype=spec.real.dtype, device=spec.device)
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1) * window  # (B, T, n_fft)
        # Overlap-add: split each frame into its n_fft/hop hop-sized pieces and sum them diagonally.
        pieces = frames.reshape(b, t, self.n_fft // self.hop, self.hop)
        out = frames.new_zeros(b, t + pieces.shape[2] - 1, self.hop)
        for j in range(pieces.shape[2]):
            out = out + nn.functional.pad(pieces[:, :, j], (0, 0, j, pieces.shape[2] - 1 - j))
        out = out.reshape(b, -1)  # (B, (T + k - 1) * hop)
        carried = state.buffer[:, :, 0].to(out.dtype)
        out = torch.cat([out[:, : carried.shape[1]] + carried, out[:, carried.shape[1] :]], dim=1)
        state.buffer = out[:, t * self.hop :, None].detach().clone()
        return (out[:, : t * self.hop] / self.scale)[:, :, None]

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.step(spec, self.init_state(spec.shape[0], spec.device, torch.float32))


class ISTFTDecoder(nn.Module):
    """latent (B, T, latent_dim) -> audio (B, T * hop, 1). Keys ``embed``, ``blocks.N``, ``norm``, ``head``."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        d = config.decoder
        self.hop = math.prod(d.rates)
        self.n_fft = d.istft_n_fft or 4 * self.hop
        self.bins = self.n_fft // 2 + 1
        self.embed = CausalConv1d(config.latent_dim, d.dim, 7)
        self.blocks = CausalSequential([ConvNeXtBlock(d.dim) for _ in range(d.istft_layers)])
        with torch.no_grad():  # Vocos' layer scale 1/L (the released blocks start at 1e-6)
            for block in self.blocks:
                block.gamma.fill_(1.0 / max(d.istft_layers, 1))
        self.norm = nn.LayerNorm(d.dim, eps=1e-6)
        self.head = nn.Linear(d.dim, 2 * self.bins)
        self.istft = CausalISTFT(self.n_fft, self.hop)

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return [
            self.embed.init_state(batch_size, device, dtype),
            self.blocks.init_state(batch_size, device, dtype),
            self.istft.init_state(batch_size, device, torch.float32),
        ]

    def spectrum(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> complex spectra (B, T, bins), in fp32."""
        log_mag, phase = self.head(self.norm(h)).float().chunk(2, dim=-1)
        mag = torch.exp(log_mag.clamp(max=LOG_MAG_MAX))
        return torch.polar(mag, phase)

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        h = self.blocks.step(self.embed.step(x, state[0]), state[1])
        return self.istft.step(self.spectrum(h), state[2]).clamp(-1, 1).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))
