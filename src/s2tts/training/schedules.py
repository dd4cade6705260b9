"""Learning-rate schedules: warmup-stable-decay (WSD), cosine, constant.

Each schedule is a multiplier of every param group's base LR (so differential learning rates,
e.g. text backbone vs audio modules, keep their ratio). Steps count optimizer updates from 0.

* ``wsd``: linear warmup over ``warmup_steps`` from ``warmup_start`` to 1, constant 1, then a decay
  over the last ``decay_fraction`` of ``total_steps`` to ``min_ratio`` (``decay_shape``: ``linear``,
  ``cosine`` or ``exp`` = geometric, MiniCPM's choice). The stable phase can be extended by raising
  ``total_steps`` on resume (the point of WSD).
* ``cosine``: linear warmup, then half-cosine from 1 to ``min_ratio`` at ``total_steps``.
* ``constant``: linear warmup, then 1.

API::

    sched = build_scheduler(optimizer, ScheduleConfig(kind="wsd", warmup_steps=100, total_steps=10_000))
    ...; optimizer.step(); sched.step()
    lr_multiplier(cfg, step)   # the pure function, for plots and tests

The returned ``LambdaLR`` checkpoints its step and its (primitive-valued) lambda, so it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch.optim.lr_scheduler import LambdaLR

from s2tts.errors import TrainConfigError

__all__ = ["LRMultiplier", "ScheduleConfig", "build_scheduler", "lr_multiplier"]


@dataclass(frozen=True)
class ScheduleConfig:
    kind: Literal["wsd", "cosine", "constant"] = "wsd"
    warmup_steps: int = 0
    total_steps: int = 1000
    decay_fraction: float = 0.1
    decay_shape: Literal["linear", "cosine", "exp"] = "linear"
    min_ratio: float = 0.0
    warmup_start: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise TrainConfigError("schedule needs warmup_steps >= 0 and total_steps >= 1")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise TrainConfigError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")
        if not 0.0 <= self.min_ratio <= 1.0 or not 0.0 <= self.warmup_start <= 1.0:
            raise TrainConfigError("min_ratio and warmup_start must be in [0, 1]")
        if self.decay_shape == "exp" and self.min_ratio <= 0.0 and self.kind == "wsd":
            raise TrainConfigError("an exponential decay needs min_ratio > 0")


def lr_multiplier(cfg: ScheduleConfig, step: int) -> float:
    """The LR multiplier at optimizer step ``step`` (0-based)."""
    if step < cfg.warmup_steps:
        return cfg.warmup_start + (1.0 - cfg.warmup_start) * (step + 1) / cfg.warmup_steps
    if cfg.kind == "constant":
        return 1.0
    if cfg.kind == "cosine":
        span = max(1, cfg.total_steps - cfg.warmup_steps)
        t = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_ratio + (1.0 - cfg.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    decay_steps = round(cfg.decay_fraction * cfg.total_steps)
    decay_start = cfg.total_steps - decay_steps
    if decay_steps == 0 or step < decay_start:
        return 1.0
    t = min(1.0, (step - decay_start + 1) / decay_steps)
    if cfg.decay_shape == "linear":
        return 1.0 + (cfg.min_ratio - 1.0) * t
    if cfg.decay_shape == "cosine":
        return cfg.min_ratio + (1.0 - cfg.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    return cfg.min_ratio**t


class LRMultiplier:
    """Picklable, primitive-valued callable for ``LambdaLR`` (its ``__dict__`` is checkpointed)."""

    def __init__(self, cfg: ScheduleConfig) -> None:
        self.kind = cfg.kind
        self.warmup_steps = cfg.warmup_steps
        self.total_steps = cfg.total_steps
        self.decay_fraction = cfg.decay_fraction
        self.decay_shape = cfg.decay_shape
        self.min_ratio = cfg.min_ratio
        self.warmup_start = cfg.warmup_start

    def config(self) -> ScheduleConfig:
        return ScheduleConfig(
            kind=self.kind,  # type: ignore[arg-type]
            warmup_steps=self.warmup_steps,
            total_steps=self.total_steps,
            decay_fraction=self.decay_fraction,
            decay_shape=self.decay_shape,  # type: ignore[arg-type]
            min_ratio=self.min_ratio,
            warmup_start=self.warmup_start,
        )

    def __call__(self, step: int) -> float:
        return lr_multiplier(self.config(), step)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig) -> LambdaLR:
    """A ``LambdaLR`` applying ``cfg`` to every param group of ``optimizer``."""
    return LambdaLR(optimizer, [LRMultiplier(cfg) for _ in optimizer.param_groups])
