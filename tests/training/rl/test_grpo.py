"""GRPO end to end on a tiny random model: KL is 0 at the start, a toy reward rises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from s2tts.checkpoint import S2Checkpoint, init_checkpoint, load_checkpoint
from s2tts.models.codec import load_codec
from s2tts.training.rl.grpo import StepConfig, grpo_step
from s2tts.training.rl.hack_guards import GuardConfig
from s2tts.training.rl.logprobs import pack_rollouts, rollout_logprobs
from s2tts.training.rl.objective import GRPOLossConfig
from s2tts.training.rl.pool import RewardPool
from s2tts.training.rl.reference import SnapshotReference
from s2tts.training.rl.rewards import RewardConfig, RewardTerm
from s2tts.training.rl.rollout import RLPrompt, RolloutConfig, RolloutSampler

NO_GUARDS = GuardConfig(
    min_chars_per_s=None, max_chars_per_s=None, max_silence_s=None, require_finished=False
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("rl") / "tiny", "tiny", seed=0, codec_preset="tiny")


def _setup(directory: Path) -> tuple[S2Checkpoint, list[RLPrompt], list[torch.Tensor]]:
    ckpt = load_checkpoint(directory)
    ckpt.model.requires_grad_(True)
    builder = ckpt.prompt_builder()
    prompts = [RLPrompt("Hello there."), RLPrompt("A second sentence.")]
    return ckpt, prompts, [builder.build(p.text) for p in prompts]


def _run(
    directory: Path, rewards: RewardConfig, steps: int, lr: float, max_new_tokens: int
) -> list[dict[str, float]]:
    ckpt, prompts, _ = _setup(directory)
    model = ckpt.model
    ref = SnapshotReference(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cfg = StepConfig(
        rollout=RolloutConfig(group_size=8, max_new_tokens=max_new_tokens),
        loss=GRPOLossConfig(beta=0.01),
        micro_batch=16,
    )
    sampler = RolloutSampler(model, ckpt.tokenizer, load_codec(directory / "codec.safetensors"), cfg.rollout)
    with RewardPool(rewards, workers=0) as pool:
        return [grpo_step(sampler, opt, prompts, pool, cfg, s, reference=ref).stats for s in range(steps)]


def test_kl_is_zero_at_initialisation_and_grows_after_updates(tiny_dir: Path) -> None:
    rewards = RewardConfig(terms={"even_first_code": RewardTerm()}, guards=NO_GUARDS)
    stats = _run(tiny_dir, rewards, steps=3, lr=3e-3, max_new_tokens=6)
    assert stats[0]["kl_slow"] == 0.0 and stats[0]["kl_fast"] == 0.0
    assert stats[2]["kl_slow"] > 0.0 and stats[2]["kl_fast"] > 0.0


@pytest.mark.slow
def test_toy_reward_even_first_code_rises(tiny_dir: Path) -> None:
    rewards = RewardConfig(terms={"even_first_code": RewardTerm()}, guards=NO_GUARDS)
    stats = _run(tiny_dir, rewards, steps=24, lr=3e-3, max_new_tokens=9)
    reward = [s["reward_mean"] for s in stats]
    first, last = np.mean(reward[:4]), np.mean(reward[-4:])
    # a random policy scores ~0.5 (half the codes are even); measured: ~0.5 -> ~0.9
    assert first < 0.65
    assert last > first + 0.2, reward


def test_reference_snapshot_swaps_in_the_initial_weights(tiny_dir: Path) -> None:
    ckpt, prompts, tensors = _setup(tiny_dir)
    model = ckpt.model
    ref = SnapshotReference(model)
    batch = pack_rollouts(model, tensors, [torch.randint(0, 64, (10, 4))] * 2, [True, False])
    with torch.no_grad():
        before = rollout_logprobs(model, batch).slow
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        moved = rollout_logprobs(model, batch).slow
        with ref.active():
            during = rollout_logprobs(model, batch).slow
        after = rollout_logprobs(model, batch).slow
    assert not torch.allclose(moved, before)
    assert torch.equal(during, before)  # the reference is the policy as RL found it
    assert torch.equal(after, moved)  # and the live weights come back untouched
