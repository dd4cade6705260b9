"""The RL recipe: ``train_rl(cfg)`` runs GRPO from an SFT checkpoint (``s2tts train rl``).

Set-up: the SFT checkpoint in training layout, LoRA injected (the default; the reference policy is
the same network with the adapters off) or every weight trainable (the reference is then a CPU
snapshot), the codec for audio, the prompt set, AdamW over the trainable parameters, a reward
worker pool. Each step draws ``prompts_per_step`` prompts per rank in a seeded order that depends
only on (seed, step), runs :func:`~s2tts.training.rl.grpo.grpo_step`, logs, writes sample audio,
checks the early-stop rules and saves. Checkpoints hold the *trainable* tensors only (the adapter
for LoRA), the optimizer, scheduler, reference snapshot and early-stop state: ``resume: auto``
continues exactly. At the end the LoRA is merged into the published layout (``out_dir/model``),
which ``load_checkpoint`` and the server read unchanged; checkpoints also carry the run config, so
``s2tts train export`` writes any of them the same way (:mod:`.export`).

With ``overlap: next_batch`` the next step's rollouts are sampled while the current batch is
scored (one update behind, importance-weighted); a checkpoint then does not hold that in-flight
batch, so a resumed run samples it again with the resumed weights (exact resume is for the
default ``within_step``).

Under torchrun every rank samples its own prompts and scores them in its own pool; gradients
are averaged over ranks before clipping, so ranks stay identical.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from s2tts.audio import write_audio
from s2tts.checkpoint import load_checkpoint
from s2tts.errors import CheckpointError, TrainConfigError
from s2tts.training.checkpointing import Checkpointer, OptimizerState
from s2tts.training.distributed import DistInfo, all_reduce_mean, any_rank, init_distributed
from s2tts.training.interrupt import StopOnSignal
from s2tts.training.lm.setup import training_layout
from s2tts.training.lora import adapters_off, inject_lora
from s2tts.training.metrics_log import MetricsLogger, plot_metrics, progress_bar
from s2tts.training.rl.config import RLRunConfig
from s2tts.training.rl.early_stop import EarlyStop
from s2tts.training.rl.export import export_policy
from s2tts.training.rl.grpo import Collected, StepConfig, collect, update
from s2tts.training.rl.pool import RewardPool
from s2tts.training.rl.prompts import read_prompts
from s2tts.training.rl.reference import AdapterOffReference, SnapshotReference
from s2tts.training.rl.rollout import RolloutSampler
from s2tts.training.run_config import config_to_dict
from s2tts.training.schedules import build_scheduler

log = logging.getLogger(__name__)


class TrainableState:
    """The trainable tensors of a model (by name) as a stateful object: small RL checkpoints."""

    def __init__(self, model: nn.Module) -> None:
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}

    def state_dict(self) -> dict[str, Any]:
        return {n: p.detach().cpu().clone() for n, p in self.params.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != set(self.params):
            raise CheckpointError("checkpoint tensors do not match this run's trainable parameters")
        with torch.no_grad():
            for n, p in self.params.items():
                p.copy_(state[n])


def step_prompts(n_prompts: int, per_rank: int, step: int, dist: DistInfo, seed: int) -> list[int]:
    """This rank's prompt indices at ``step``: a seeded permutation per epoch, stateless."""
    per_step = per_rank * dist.world_size
    start = step * per_step + dist.rank * per_rank
    out = []
    for k in range(start, start + per_rank):
        epoch, pos = divmod(k, n_prompts)
        order = np.random.default_rng([seed, epoch]).permutation(n_prompts)
        out.append(int(order[pos]))
    return out


def _reduce(dist: DistInfo) -> Any:
    if not dist.enabled:
        return None

    def reduce(params: Any) -> None:
        for p in params:
            if p.grad is not None:
                p.grad.copy_(all_reduce_mean(p.grad, dist))

    return reduce


def train_rl(cfg: RLRunConfig) -> dict[str, Any]:
    """Run (or resume) a GRPO run; returns the summary that the CLI prints as its last line.
    Under torchrun the caller ends the process group (``distributed.finish``) afterwards."""
    if cfg.model.init_from is None:
        raise TrainConfigError("model.init_from: name the SFT checkpoint directory to start RL from")
    if cfg.data.prompts is None:
        raise TrainConfigError("data.prompts: name a JSONL file of prompts")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)  # the trainer process's own setting, from its config
    return _train(cfg, init_distributed(cfg.device))


def _train(cfg: RLRunConfig, dist: DistInfo) -> dict[str, Any]:
    from s2tts.models.codec import load_codec

    init_from = Path(cfg.model.init_from or "")
    ckpt = load_checkpoint(init_from, dtype="float32", device=dist.device)
    model = training_layout(ckpt.model)
    if cfg.lora.enabled:
        inject_lora(model, cfg.lora, seed=cfg.seed)
        reference: AdapterOffReference | SnapshotReference = AdapterOffReference(lambda: adapters_off(model))
    else:
        model.requires_grad_(True)
        reference = SnapshotReference(model)
    model.train()
    codec_path = ckpt.codec_path()
    if codec_path is None:
        raise TrainConfigError(f"{init_from} has no codec: RL rollouts are decoded to audio with it")
    codec = load_codec(codec_path, device=dist.device)
    prompts = read_prompts(cfg.data.prompts, codec)
    # prompts without a reference speak in the checkpoint's default voice, as the served model does
    sampler = RolloutSampler(model, ckpt.tokenizer, codec, cfg.rollout, default_voice=ckpt.default_voice)
    baselines = "tags" in cfg.rewards.terms

    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
    scheduler = build_scheduler(optimizer, o.schedule)
    early = EarlyStop(cfg.early_stop)
    objects = {
        "trainable": TrainableState(model),
        "optim": OptimizerState(model, optimizer),
        "sched": scheduler,
        "reference": reference,
        "early_stop": early,
    }
    checkpoints = Checkpointer(cfg.out_dir / "checkpoints", cfg.keep_last, dist.is_main, dist.barrier)
    start = 0
    latest = checkpoints.latest() if cfg.resume == "auto" else None
    if latest is not None:
        if Checkpointer.read(latest)["extra"].get("identity") != cfg.model_identity():
            raise CheckpointError(
                f"{latest} was written by another run (model/LoRA differ); use a new out_dir or resume=never"
            )
        start = int(checkpoints.load(latest, objects)["step"])
        log.info("resumed from %s at step %d", latest, start)
    step_cfg = StepConfig(
        rollout=cfg.rollout,
        loss=cfg.loss,
        updates=cfg.updates,
        micro_batch=cfg.micro_batch,
        max_grad_norm=o.grad_clip,
        scale_by_std=cfg.scale_by_std,
        seed=cfg.seed,
        prompt_offset=dist.rank * cfg.data.prompts_per_step,
    )

    def save(step: int, stopped: str | None) -> Path:
        extra = {
            "step": step,
            "identity": cfg.model_identity(),
            "stopped": stopped,
            "config": config_to_dict(cfg),  # what ``s2tts train export`` rebuilds the policy from
        }
        return checkpoints.save(step, objects, extra=extra)

    first_reward = math.nan
    last: dict[str, float] = {}
    stopped: str | None = None
    last_path = latest
    step = start
    samples_dir = cfg.out_dir / "samples"
    with (
        RewardPool(cfg.rewards, cfg.reward_workers, cfg.reward_threads) as pool,
        StopOnSignal() as stop,
        MetricsLogger(cfg.out_dir, enabled=dist.is_main, helper_cpu_s=lambda: pool.worker_cpu_s) as metrics,
    ):
        bar = progress_bar(total=cfg.steps, initial=start, enabled=dist.is_main, desc="rl")
        reduce = _reduce(dist)

        def collect_step(k: int) -> Collected:
            idx = step_prompts(len(prompts), cfg.data.prompts_per_step, k, dist, cfg.seed)
            return collect(sampler, [prompts[i] for i in idx], pool, step_cfg, k, reference, baselines)

        pending: Collected | None = None
        while step < cfg.steps:
            t0 = time.perf_counter()
            current = pending if pending is not None else collect_step(step)
            pending = None
            if cfg.overlap == "next_batch" and step + 1 < cfg.steps:
                pending = collect_step(step + 1)  # sampled while ``current`` is being scored
            result = update(model, optimizer, current, pool, step_cfg, params, reduce)
            result.stats["step_s"] = time.perf_counter() - t0
            scheduler.step()
            step += 1
            stats = dict(result.stats, lr=scheduler.get_last_lr()[0])
            if math.isnan(first_reward):
                first_reward = stats.get("reward_mean", math.nan)
            if dist.is_main and cfg.samples and step % cfg.sample_every == 0:
                samples_dir.mkdir(parents=True, exist_ok=True)
                for k, r in enumerate(result.rollouts[: cfg.samples]):
                    if r.audio is not None and len(r.audio):
                        write_audio(samples_dir / f"step-{step:08d}-{k}.wav", r.audio, codec.sample_rate)
            metrics.log(step, stats)
            last = stats
            bar.set_postfix(reward=f"{stats.get('reward_mean', math.nan):.3f}", kl=f"{stats['kl_slow']:.4f}")
            bar.update(1)
            stopped = early.update(stats)
            if stopped is not None:
                log.warning("early stop at step %d: %s", step, stopped)
            if stopped is not None:  # keep the last periodic checkpoint: it is the last good one
                break
            if any_rank(stop.requested, dist):
                last_path = save(step, f"signal {stop.signal_name}")
                stopped = f"signal {stop.signal_name}"
                break
            if step % cfg.save_every == 0 or step == cfg.steps:
                last_path = save(step, None)
        bar.close()
    summary: dict[str, Any] = {
        "rank": dist.rank,
        "steps": step,
        "first_reward": first_reward,
        "final_reward": last.get("reward_mean", math.nan),
        "final_kl": last.get("kl_slow", math.nan),
        "stopped": stopped,
        "checkpoint": str(last_path) if last_path is not None else None,
        "export": None,
    }
    if dist.is_main and (cfg.out_dir / "metrics.jsonl").is_file():
        plot_metrics(
            cfg.out_dir / "metrics.jsonl",
            cfg.out_dir / "rl_curves.png",
            ["reward_mean", "intelligibility.error_rate_mean", "kl_slow"],
            title="GRPO",
            panels=True,
            smooth=10,
        )
    if cfg.export_on_finish and dist.is_main and stopped is None:
        summary["export"] = str(export_policy(model, ckpt.tokenizer, cfg, cfg.out_dir / "model"))
    return summary
