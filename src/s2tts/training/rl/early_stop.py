"""Stop a GRPO run that has gone wrong, before it overwrites good checkpoints with bad ones.

Two failure modes of RL on TTS (training-recipes §3.3): the policy runs away from the reference
(KL explodes: reward hacking, prosody collapse), or the reward collapses (a run that was
improving falls back: degenerate outputs, EOS failures). Each check must hold for ``patience``
consecutive steps, so one noisy batch does not stop a run:

* KL: mean per-token KL (slow AR) above ``max_kl``;
* collapse: the mean reward of the last ``window`` steps more than ``collapse_drop`` below the best
  such mean so far. One step's mean over a few rollouts is too noisy to compare (the small model's
  RL, 8 rollouts a step, swung between 0.0 and 0.75 while its 10-step means stayed at 0.25-0.45): a
  lucky step would set a "best" the run could never hold, and stop a healthy run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from s2tts.errors import TrainConfigError


@dataclass(frozen=True)
class EarlyStopConfig:
    """max_kl / collapse_drop None switch a check off."""

    max_kl: float | None = 1.0
    collapse_drop: float | None = 0.5
    patience: int = 3
    window: int = 10  # steps in the trailing mean the collapse check compares

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise TrainConfigError("early_stop.patience must be >= 1")
        if self.window < 1:
            raise TrainConfigError("early_stop.window must be >= 1")


class EarlyStop:
    """``update(stats) -> reason or None``; stateful across steps (and checkpoints)."""

    def __init__(self, cfg: EarlyStopConfig) -> None:
        self.cfg = cfg
        self.best = float("-inf")
        self.kl_run = 0
        self.collapse_run = 0
        self.recent: deque[float] = deque(maxlen=cfg.window)

    def update(self, stats: dict[str, float]) -> str | None:
        cfg = self.cfg
        kl = stats.get("kl_slow", 0.0)
        reward = stats.get("reward_mean", 0.0)
        self.kl_run = self.kl_run + 1 if cfg.max_kl is not None and kl > cfg.max_kl else 0
        self.recent.append(reward)
        full = len(self.recent) == cfg.window  # no collapse check before a whole window is seen
        reward = sum(self.recent) / len(self.recent)
        dropped = full and cfg.collapse_drop is not None and reward < self.best - cfg.collapse_drop
        self.collapse_run = self.collapse_run + 1 if dropped else 0
        if full:
            self.best = max(self.best, reward)
        if self.kl_run >= cfg.patience:
            return f"KL {kl:.3g} above {cfg.max_kl} for {self.kl_run} steps"
        if self.collapse_run >= cfg.patience:
            return f"mean reward of {cfg.window} steps {reward:.3g} fell more than {cfg.collapse_drop} below its best {self.best:.3g} for {self.collapse_run} steps"
        return None

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "kl_run": self.kl_run,
            "collapse_run": self.collapse_run,
            "recent": list(self.recent),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.kl_run = int(state["kl_run"])
        self.collapse_run = int(state["collapse_run"])
        self.recent.clear()
        if "recent" in state:  # absent in checkpoints from before the trailing mean
            self.recent.extend(float(r) for r in state["recent"])
        else:  # the old per-step best is not a trailing mean's: start comparing afresh
            self.best, self.collapse_run = float("-inf"), 0
