"""Semantic distillation: a head on codebook 0's output regressed toward a teacher's frame features.

    head(semantic part (B, T, D)) -> (B, T, C)   vs   teacher(audio) (B, T_t, C) at its own rate,
    resampled to the codec frame rate by averaging the teacher frames whose centres fall in each
    codec frame (non-causal pooling: the teacher is a training target only; Mimi found causal
    pooling worse).

Loss: ``1 - cosine`` (Mimi) or L1 per frame, averaged. Teachers follow :class:`Teacher`: any
callable that maps audio to frame features at a known rate plugs in (the default is the Whisper
base encoder, :mod:`s2tts.training.codec.whisper_teacher`).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn


class Teacher(Protocol):
    """audio (B, n) float at ``sample_rate`` -> features (B, T_t, dim) at ``frame_rate`` frames/s."""

    frame_rate: float
    dim: int

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor: ...


class SemanticHead(nn.Module):
    """(B, T, latent_dim) -> (B, T, teacher_dim): one linear layer (as Mimi's projection)."""

    def __init__(self, latent_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(latent_dim, teacher_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def resample_frames(features: torch.Tensor, src_rate: float, dst_rate: float, n_dst: int) -> torch.Tensor:
    """features (B, T_s, C) at ``src_rate`` -> (B, n_dst, C) at ``dst_rate``.

    Destination frame ``j`` spans ``[j, j+1) / dst_rate`` seconds; it is the mean of the source
    frames whose centres ``(i + 0.5) / src_rate`` lie in that span, or the nearest source frame
    when none does (upsampling). Frames past the end of the source repeat its last frame.
    """
    b, t_src, c = features.shape
    centres = (torch.arange(t_src, dtype=torch.float64) + 0.5) / src_rate
    owner = torch.floor(centres * dst_rate).long()  # destination frame of each source frame
    weights = torch.zeros(n_dst, t_src, dtype=torch.float64)
    inside = owner < n_dst
    weights[owner[inside], torch.arange(t_src)[inside]] = 1.0
    empty = weights.sum(1) == 0
    if bool(empty.any()):
        mids = (torch.arange(n_dst, dtype=torch.float64) + 0.5) / dst_rate
        nearest = torch.clamp(torch.floor(mids * src_rate).long(), 0, t_src - 1)
        weights[empty, nearest[empty]] = 1.0
    weights = weights / weights.sum(1, keepdim=True)
    return torch.einsum("js,bsc->bjc", weights.to(features.dtype).to(features.device), features)


def distill_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """pred, target (B, T, C) -> scalar: mean(1 - cos) or mean |pred - target|."""
    if kind == "cosine":
        return (1 - F.cosine_similarity(pred.float(), target.float(), dim=-1)).mean()
    if kind == "l1":
        return F.l1_loss(pred.float(), target.float())
    raise ValueError(f"unknown distillation loss {kind!r}; choose cosine or l1")


def codec_frames(n_samples: int, frame_length: int) -> int:
    return math.ceil(n_samples / frame_length)
