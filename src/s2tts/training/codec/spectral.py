"""Spectral helpers for losses and discriminators: STFT magnitudes and a mel filterbank.

All functions take audio ``(B, n)`` or ``(B, 1, n)`` and return channel-first spectrograms
``(B, F, frames)``. Windows are periodic Hann, frames are centred with reflect padding (the
losses compare two signals through the same transform, so the framing convention only has to be
the same on both sides).
"""

from __future__ import annotations

import math

import torch


def as_batch(audio: torch.Tensor) -> torch.Tensor:
    """(B, 1, n) or (B, n) -> (B, n)."""
    if audio.dim() == 3:
        if audio.shape[1] != 1:
            raise ValueError(f"expected mono audio (B, 1, n), got {tuple(audio.shape)}")
        return audio[:, 0]
    if audio.dim() != 2:
        raise ValueError(f"expected audio (B, n) or (B, 1, n), got {tuple(audio.shape)}")
    return audio


def stft(audio: torch.Tensor, n_fft: int, hop: int, win: int | None = None) -> torch.Tensor:
    """Complex STFT (B, n_fft // 2 + 1, frames) of (B, n) / (B, 1, n) audio, centred, reflect pad."""
    x = as_batch(audio)
    win = n_fft if win is None else win
    window = torch.hann_window(win, periodic=True, device=x.device, dtype=x.dtype)
    return torch.stft(
        x, n_fft, hop_length=hop, win_length=win, window=window, center=True, return_complex=True
    )


def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(
        f < min_log_hz, f / f_sp, min_log_mel + torch.log(f.clamp(min=1e-10) / min_log_hz) / logstep
    )


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(m < min_log_mel, m * f_sp, min_log_hz * torch.exp(logstep * (m - min_log_mel)))


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Slaney-normalised triangular filters (n_mels, n_fft // 2 + 1), float32, full band by default."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(
        torch.linspace(
            float(hz_to_mel(torch.tensor(f_min))),
            float(hz_to_mel(torch.tensor(f_max))),
            n_mels + 2,
            dtype=torch.float64,
        )
    )
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lower) / (center - lower)
    falling = (upper - freqs[None]) / (upper - center)
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    filters = filters * (2.0 / (upper - lower))  # equal area per filter (Slaney)
    return filters.float()
