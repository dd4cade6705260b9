"""Stop a GRPO run that has gone wrong, before it overwrites good checkpoints with bad ones.

Two failure modes of RL on TTS (training-recipes §3.3): the policy runs away from the reference
(KL explodes: reward hacking, prosody collapse), or the reward collapses (a run that was
improving falls back: degenerate outputs, EOS failures). Each check must hold for ``patience``
consecutive steps, so one noisy batch does not stop a run:

* KL: mean per-token KL (slow AR) above ``max_kl``;
* collapse: mean reward more than ``collapse_drop`` below the best mean seen so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s2tts.errors import TrainConfigError


@dataclass(frozen=True)
class EarlyStopConfig:
    """max_kl / collapse_drop None switch a check off."""

    max_kl: float | None = 1.0
    collapse_drop: float | None = 0.5
    patience: int = 3

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise TrainConfigError("early_stop.patience must be >= 1")


class EarlyStop:
    """``update(stats) -> reason or None``; stateful across steps (and checkpoints)."""

    def __init__(self, cfg: EarlyStopConfig) -> None:
        self.cfg = cfg
        self.best = float("-inf")
        self.kl_run = 0
        self.collapse_run = 0

    def update(self, stats: dict[str, float]) -> str | None:
        cfg = self.cfg
        kl = stats.get("kl_slow", 0.0)
        reward = stats.get("reward_mean", 0.0)
        self.kl_run = self.kl_run + 1 if cfg.max_kl is not None and kl > cfg.max_kl else 0
        dropped = cfg.collapse_drop is not None and reward < self.best - cfg.collapse_drop
        self.collapse_run = self.collapse_run + 1 if dropped else 0
        self.best = max(self.best, reward)
        if self.kl_run >= cfg.patience:
            return f"KL {kl:.3g} above {cfg.max_kl} for {self.kl_run} steps"
        if self.collapse_run >= cfg.patience:
            return f"reward {reward:.3g} fell more than {cfg.collapse_drop} below its best {self.best:.3g} for {self.collapse_run} steps"
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "kl_run": self.kl_run, "collapse_run": self.collapse_run}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.kl_run = int(state["kl_run"])
        self.collapse_run = int(state["collapse_run"])
