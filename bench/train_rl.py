"""GRPO step time on the ``bench-small`` shape: rollout, reward scoring and update, and the overlap.

One RL step of S2's recipe on CPU: a random ``bench-small`` LM with the ``small`` codec and S2's
rsLoRA adapter (r=16, alpha=64, MLPs), G samples for each of P prompts (fixed length: a random
model's stop is random), real rewards in one worker process (Whisper tiny.en intelligibility,
DNSMOS and DistillMOS behind the intelligibility gate), k3 KL to the adapters-off reference.

Measured in the same run, after a warm-up step (reward models loaded, caches allocated):

* ``rollout_s`` -- generating and codec-decoding the P x G rollouts alone (nothing scoring),
  through the engine's continuous batching (``--batch-size`` rows, G by default);
* ``scoring_s`` -- the reward worker scoring that batch alone (nothing generating);
* ``update_s`` -- the policy update of a step (log-probs with grad, backward, AdamW);
* ``step_s`` -- a steady-state step of the pipelined loop (``overlap: next_batch``: step k+1 is
  sampled while step k is scored, then step k's update), median over ``--steps``;
* ``step_vs_max_ratio`` = step_s / max(rollout_s, scoring_s) (aim <= 1.2), and
  ``serial_step_s`` = rollout + scoring + update for comparison.

Rollout and scoring alone are measured once before and once after the pipelined steps and
averaged (``*_runs_s`` lists both), so a load that drifts during the run biases the ratio less.

The trainer uses one thread and the worker one, so the two overlap on two cores; the machine is
shared, so ``os.getloadavg()`` is recorded. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.models.codec import load_codec
from s2tts.training.lm.setup import training_layout
from s2tts.training.lora import adapters_off, inject_lora
from s2tts.training.rl.config import s2_lora
from s2tts.training.rl.grpo import StepConfig, collect, reward_inputs, update
from s2tts.training.rl.hack_guards import GuardConfig
from s2tts.training.rl.objective import LossConfig
from s2tts.training.rl.pool import RewardPool
from s2tts.training.rl.reference import AdapterOffReference
from s2tts.training.rl.rewards import GateConfig, RewardConfig, RewardTerm
from s2tts.training.rl.rollout import RLPrompt, RolloutConfig, RolloutSampler

TEXTS = [
    "The old man walked slowly down the road to buy some bread.",
    "My sister found a small black cat sleeping under the table.",
    "We will meet again at the station before the train leaves.",
    "Please open the window because the room is getting very warm.",
]


def rewards() -> RewardConfig:
    return RewardConfig(
        terms={
            "intelligibility": RewardTerm(1.0, options={"asr": "tiny.en", "beam_size": 1}),
            "dnsmos": RewardTerm(0.25, gated=True),
            "distillmos": RewardTerm(0.25, gated=True),
        },
        gate=GateConfig(metric="intelligibility.error_rate", max_value=0.5),
        guards=GuardConfig(
            min_chars_per_s=None, max_chars_per_s=None, max_silence_s=1.5, require_finished=False
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--group", type=int, default=8, help="G, samples per prompt")
    ap.add_argument("--prompts", type=int, default=2, help="P, prompts per step")
    ap.add_argument("--frames", type=int, default=48, help="frames per rollout (about 2.2 s of audio)")
    ap.add_argument("--steps", type=int, default=3, help="pipelined steps timed after the first")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=0, help="rows decoded together (0: G)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        directory = init_checkpoint(Path(tmp) / "small", "bench-small", seed=0, codec_preset="small")
        ckpt = load_checkpoint(directory)
        codec = load_codec(ckpt.codec_path() or directory)
    model = training_layout(ckpt.model)
    inject_lora(model, s2_lora())
    model.train()
    reference = AdapterOffReference(lambda: adapters_off(model))
    prompts = [RLPrompt(TEXTS[i % len(TEXTS)]) for i in range(args.prompts)]
    cfg = StepConfig(
        rollout=RolloutConfig(
            group_size=args.group,
            max_new_tokens=args.frames + 1,
            min_new_tokens=args.frames,
            batch_size=args.batch_size or args.group,
        ),
        loss=LossConfig(beta=0.04, clip_eps=0.2),
        micro_batch=8,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    sampler = RolloutSampler(model, ckpt.tokenizer, codec, cfg.rollout)
    sr = codec.sample_rate

    with (
        RewardPool(rewards(), workers=args.workers) as pool,
        RewardPool(
            RewardConfig(
                terms={"shortness": RewardTerm()},
                guards=GuardConfig(None, None, max_silence_s=None, require_finished=False),
            ),
            workers=0,
        ) as null_pool,
    ):
        # warm-up: one full step (reward models load in the worker, caches and kernels warm up)
        update(model, opt, collect(sampler, prompts, pool, cfg, 0, reference), pool, cfg, params)

        def alone(step: int) -> tuple[float, float, float]:
            """(rollout, scoring, update) seconds of one batch, each with nothing else running."""
            col = collect(sampler, prompts, null_pool, cfg, step, reference)
            inputs = [
                reward_inputs(p, col.rollouts[i * args.group : (i + 1) * args.group], sr)
                for i, p in enumerate(prompts)
            ]
            t0 = time.perf_counter()
            for f in [pool.submit(b) for b in inputs]:
                f.result()
            scoring = time.perf_counter() - t0
            upd = update(model, opt, col, null_pool, cfg, params).stats["update_s"]
            return col.timings["rollout_s"], scoring, upd

        before = alone(1)
        # the pipelined loop: sample step k+1 while step k is scored, then update on step k
        step_times = []
        current = collect(sampler, prompts, pool, cfg, 2, reference)
        for k in range(args.steps):
            t0 = time.perf_counter()
            nxt = collect(sampler, prompts, pool, cfg, 3 + k, reference)
            stats = update(model, opt, current, pool, cfg, params).stats
            step_times.append(time.perf_counter() - t0)
            current = nxt
        for f in current.futures:
            f.result()
        after = alone(3 + args.steps)

    rollout_s, scoring_s, update_s = (statistics.mean(pair) for pair in zip(before, after, strict=True))
    step_s = statistics.median(step_times)
    result = {
        "shape": "bench-small + small codec, rsLoRA r16 MLP",
        "group": args.group,
        "prompts": args.prompts,
        "frames": args.frames,
        "audio_s_per_rollout": args.frames * codec.frame_length / sr,
        "reward_workers": args.workers,
        "batch_size": cfg.rollout.batch_size,
        "rollout_s": round(rollout_s, 3),
        "rollout_runs_s": [round(before[0], 3), round(after[0], 3)],
        "scoring_s": round(scoring_s, 3),
        "scoring_runs_s": [round(before[1], 3), round(after[1], 3)],
        "update_s": round(update_s, 3),
        "step_s": round(step_s, 3),
        "step_times_s": [round(t, 3) for t in step_times],
        "serial_step_s": round(rollout_s + scoring_s + update_s, 3),
        "step_vs_max_ratio": round(step_s / max(rollout_s, scoring_s), 3),
        "last_step_reward_wait_s": round(stats["reward_wait_s"], 3),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "threads": {"trainer": 1, "per_worker": 1},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
