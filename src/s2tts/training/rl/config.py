"""The RL trainer's run config (YAML/TOML + ``a.b=value`` overrides, see ``run_config``).

Sections::

    out_dir, steps, seed, device, threads, resume   the run
    model:     init_from -- the SFT checkpoint (published layout, with its codec)
    lora:      LoRAConfig; default S2's: rsLoRA r=16, alpha=64 on the MLPs of both ARs
    data:      prompts (JSONL, see rl.prompts), prompts_per_step (per rank)
    rollout:   group_size G, temperature, top_k/top_p (0/1.0 = the full policy), max_new_tokens
    loss:      beta (KL), gamma (fast AR), clip_eps (PPO, with updates > 1), norm
    rewards:   terms {name: {weight, gated, options}}, gate {metric, max_value}, guards {...}
    optim:     lr, betas, eps, weight_decay, grad_clip, schedule
    overlap:   within_step (on-policy) | next_batch (score step k while sampling step k+1)
    updates, micro_batch, scale_by_std, reward_workers, reward_threads
    early_stop: max_kl, collapse_drop, patience
    save_every, keep_last, sample_every, samples, export_on_finish

Example::

    s2tts train rl --config configs/train/rl-smoke.yaml steps=50 loss.beta=0.02
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from s2tts.errors import TrainConfigError
from s2tts.training.lora import LoRAConfig
from s2tts.training.rl.early_stop import EarlyStopConfig
from s2tts.training.rl.objective import GRPOLossConfig
from s2tts.training.rl.rewards import RewardConfig
from s2tts.training.rl.rollout import RolloutConfig
from s2tts.training.schedules import ScheduleConfig

MLP_TARGETS = ["feed_forward.w1", "feed_forward.w2", "feed_forward.w3"]


def s2_lora() -> LoRAConfig:
    """S2 §4.3: rsLoRA r=16, alpha=64 (scale 64/sqrt(16) = 16), MLP layers only."""
    return LoRAConfig(enabled=True, rank=16, alpha=64.0, rslora=True, targets=list(MLP_TARGETS))


@dataclass(frozen=True)
class RLModelSection:
    init_from: Path | None = None


@dataclass(frozen=True)
class RLDataSection:
    prompts: Path | None = None
    prompts_per_step: int = 4


@dataclass(frozen=True)
class RLOptimSection:
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    schedule: ScheduleConfig = ScheduleConfig(kind="constant", warmup_steps=0, total_steps=1000)


@dataclass(frozen=True)
class RLRunConfig:
    out_dir: Path = Path("runs/rl")
    steps: int = 200
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    resume: Literal["auto", "never"] = "auto"
    model: RLModelSection = RLModelSection()
    lora: LoRAConfig = field(default_factory=s2_lora)
    data: RLDataSection = RLDataSection()
    rollout: RolloutConfig = RolloutConfig()
    loss: GRPOLossConfig = GRPOLossConfig()
    rewards: RewardConfig = field(default_factory=RewardConfig)
    optim: RLOptimSection = RLOptimSection()
    overlap: Literal["within_step", "next_batch"] = "within_step"
    updates: int = 1
    micro_batch: int = 8
    scale_by_std: bool = False
    reward_workers: int = 1
    reward_threads: int = 1
    early_stop: EarlyStopConfig = EarlyStopConfig()
    save_every: int = 20
    keep_last: int = 2
    sample_every: int = 10
    samples: int = 2
    export_on_finish: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "updates", "micro_batch", "save_every", "keep_last", "sample_every"):
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.reward_workers < 0 or self.reward_threads < 1 or self.samples < 0:
            raise TrainConfigError("reward_workers >= 0, reward_threads >= 1 and samples >= 0 are required")
        if self.data.prompts_per_step < 1:
            raise TrainConfigError("data.prompts_per_step must be >= 1")
        if self.updates > 1 and self.loss.clip_eps is None:
            raise TrainConfigError("updates > 1 reuses a rollout batch: set loss.clip_eps (PPO clipping)")

    def model_identity(self) -> dict[str, object]:
        """What a checkpoint must agree on to be resumed by this config."""
        return {
            "init_from": str(self.model.init_from),
            "lora": [self.lora.enabled, self.lora.rank, list(self.lora.targets)]
            if self.lora.enabled
            else None,
        }
