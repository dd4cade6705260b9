"""The real rewards end to end: tiny model rollouts -> codec audio -> Whisper, resemblyzer, DNSMOS
and DistillMOS in a reward worker process -> gate -> advantages -> an update."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from eval.speech import SENTENCES, festival
from s2tts.audio import downmix, read_audio
from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.models.codec import load_codec
from s2tts.text.prompt import Reference
from s2tts.training.rl.grpo import StepConfig, grpo_step
from s2tts.training.rl.hack_guards import GuardConfig
from s2tts.training.rl.objective import GRPOLossConfig
from s2tts.training.rl.pool import RewardPool
from s2tts.training.rl.reference import SnapshotReference
from s2tts.training.rl.rewards import GateConfig, RewardConfig, RewardTerm
from s2tts.training.rl.rollout import RLPrompt, RolloutConfig, RolloutSampler

pytestmark = pytest.mark.slow


def test_real_rewards_score_tiny_model_rollouts(tmp_path: Path) -> None:
    directory = init_checkpoint(tmp_path / "tiny", "tiny", seed=0, codec_preset="tiny")
    ckpt = load_checkpoint(directory)
    model = ckpt.model.requires_grad_(True)
    codec = load_codec(directory / "codec.safetensors")
    ref_audio, ref_rate = read_audio(festival(SENTENCES["b"], "kal", tmp_path / "ref.wav"))
    ref_audio = downmix(ref_audio)
    with torch.no_grad():
        ref_codes = codec.encode(ref_audio, ref_rate)[0][0]
    prompt = RLPrompt(SENTENCES["a"], (Reference(SENTENCES["b"], ref_codes),), ref_audio, ref_rate)
    rewards = RewardConfig(
        terms={
            "intelligibility": RewardTerm(weight=1.0, options={"asr": "tiny.en"}),
            "similarity": RewardTerm(weight=0.5, gated=True),
            "dnsmos": RewardTerm(weight=0.25, gated=True),
            "distillmos": RewardTerm(weight=0.25, gated=True),
        },
        gate=GateConfig(metric="intelligibility.error_rate", max_value=0.5),
        # a random model's noise: no plausible duration and rarely a stop, so only the silence guard
        guards=GuardConfig(
            min_chars_per_s=None, max_chars_per_s=None, max_silence_s=1.5, require_finished=False
        ),
    )
    cfg = StepConfig(
        rollout=RolloutConfig(group_size=4, max_new_tokens=33, min_new_tokens=20),
        loss=GRPOLossConfig(beta=0.04),
        micro_batch=4,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sampler = RolloutSampler(model, ckpt.tokenizer, codec, cfg.rollout)
    before = model.fast.output.weight.detach().clone()
    with RewardPool(rewards, workers=1) as pool:
        result = grpo_step(sampler, opt, [prompt], pool, cfg, 0, SnapshotReference(model))
    stats = result.stats
    assert len(result.rollouts) == 4 and all(r.audio is not None and len(r.audio) for r in result.rollouts)
    for key in (
        "intelligibility.error_rate",
        "intelligibility.confidence",
        "similarity.score",
        "dnsmos.ovrl",
        "distillmos.mos",
    ):
        assert f"{key}_mean" in stats, key
    # noise is not intelligible: the gate closes, so only the ASR term counts in the total
    assert stats["gate_pass_rate"] == 0.0
    for s in result.scores:
        assert s.metrics["intelligibility.error_rate"] > 0.5
        assert s.total == pytest.approx(s.metrics["intelligibility.score"])
        assert 0.0 <= s.metrics["similarity.score"] <= 1.0 and s.metrics["similarity.applicable"] == 1.0
    assert math.isfinite(stats["loss"]) and stats["kl_slow"] == 0.0
    assert stats["scoring_s"] > 0 and stats["rollout_s"] > 0
    assert not torch.equal(before, model.fast.output.weight)  # the update happened
