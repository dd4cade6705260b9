"""The LM training recipe: pre-training, full fine-tuning and LoRA of the Dual-AR model.

One readable loop over the library parts (``s2tts.training``): run config -> model (+ vocab
extension, LoRA) -> DDP or FSDP2 -> AdamW with text/audio LR groups + WSD/cosine schedule ->
steps of ``grad_accum`` micro-batches whose losses are normalised by counts summed over the whole
step (all micro-batches and ranks, so N processes compute the gradient of one big batch) -> NaN
guard, grad clipping -> metrics (JSONL, TensorBoard, tqdm) -> validation every ``val_every`` ->
checkpoints every ``save_every`` and on SIGTERM/SIGINT -> export of the published layout.

Run directory ``out_dir``: ``config.yaml`` (the run config), ``tokenizer.json`` and
``model_config.json`` (after vocab extension), ``metrics.jsonl``, ``tb/``, ``checkpoints/step-*``,
``model/`` (the export) and ``loss.png``.

Resume: ``resume=auto`` continues from ``checkpoints/latest`` exactly (model, optimizer, schedule,
RNG, data position); ``resume_weights=DIR`` starts from weights only (a training checkpoint or an
exported directory; an export's ``trainer_state.json`` gives the step to continue the schedule and
data order from) with a fresh optimizer. A checkpoint made by a different model config (preset,
init_from, added tokens, LoRA) is refused with a clear error.

``train_lm(cfg)`` returns the summary dict whose JSON is the run's last stdout line.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from s2tts.errors import CheckpointError
from s2tts.models.config import DualARConfig
from s2tts.models.layers import TransformerBlock
from s2tts.models.weights import iter_checkpoint
from s2tts.text.frontend import TextFrontend
from s2tts.text.prompt import PromptBuilder
from s2tts.training.checkpointing import Checkpointer, ModelState, OptimizerState
from s2tts.training.distributed import (
    DistInfo,
    all_reduce_mean,
    any_rank,
    apply_fsdp2,
    init_distributed,
    wrap_ddp,
)
from s2tts.training.guards import check_finite
from s2tts.training.host_memory import allocator_preloaded, host_memory_trimmer, keep_freed_host_memory
from s2tts.training.interrupt import StopOnSignal
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.data import StepSampler, load_sources
from s2tts.training.lm.length_groups import LengthGroupedSampler
from s2tts.training.lm.listen import write_sample
from s2tts.training.lm.losses import combine
from s2tts.training.lm.objective import DualARObjective
from s2tts.training.lm.prephonemise import warm_frontend
from s2tts.training.lm.samples import SampleBuilder, collate
from s2tts.training.lm.setup import build_model, build_optimizer, export_published
from s2tts.training.lm.text_gain import text_gain
from s2tts.training.metrics_log import MetricsLogger, plot_metrics, progress_bar
from s2tts.training.precision import Precision
from s2tts.training.run_config import config_to_dict, save_config
from s2tts.training.schedules import LRMultiplier, build_scheduler

__all__ = ["train_lm"]


def _sum_counts(
    objective: DualARObjective,
    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
    dist: DistInfo,
) -> tuple[float, float]:
    local = torch.zeros(2, dtype=torch.float64)
    for values, kinds, keep in batches:
        s, f = objective.counts(values, kinds, keep)
        local += torch.tensor([s, f], dtype=torch.float64)
    if dist.enabled:
        import torch.distributed as torch_dist

        local = local.to(dist.device)
        torch_dist.all_reduce(local)
    return float(local[0]), float(local[1])


def _batches(
    source: Any, positions: list[tuple[int, int]], sb: SampleBuilder, pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    return collate([sb.build_fitting(source.get(i, epoch)) for i, epoch in positions], pad)


@torch.no_grad()
def _validate(
    wrapped: torch.nn.Module, objective: DualARObjective, val: Any, cfg: LMRunConfig,
    sb: SampleBuilder, pad: int, dist: DistInfo, prec: Precision,
) -> float | None:  # fmt: skip
    if len(val) == 0:
        return None
    wrapped.eval()
    n = min(len(val), cfg.val_batches * cfg.batch_size)
    sums = torch.zeros(4, dtype=torch.float64)
    for start in range(0, n, cfg.batch_size):
        values, kinds = _batches(val, [(i, 0) for i in range(start, min(n, start + cfg.batch_size))], sb, pad)
        values, kinds = values.to(dist.device), kinds.to(dist.device)
        with prec.autocast():
            s, f = wrapped(values, kinds)
        cs, cf = objective.counts(values, kinds)
        sums += torch.tensor([float(s), cs, float(f), cf], dtype=torch.float64)
    wrapped.train()
    return float(combine(sums[0], float(sums[1]), sums[2], float(sums[3]), cfg.loss))


def _check_identity(extra: dict[str, Any], cfg: LMRunConfig, path: Path) -> None:
    saved = extra.get("model_identity")
    if saved is not None and saved != json.loads(json.dumps(cfg.model_identity())):
        diff = {k: (saved.get(k), v) for k, v in cfg.model_identity().items() if saved.get(k) != v}
        raise CheckpointError(
            f"checkpoint {path} was made by a different model config (saved, now): {diff}; "
            "use another out_dir or resume=never"
        )


def _load_published(path: Path, model: torch.nn.Module) -> int:
    """Weights of an exported directory into ``model``; returns the step its trainer_state.json records."""
    from s2tts.models.weights import published_to_internal

    if not path.is_dir():
        raise CheckpointError(
            f"resume_weights: {path} is neither a training checkpoint nor an exported model"
        )
    mapped = {published_to_internal(k): v for k, v in iter_checkpoint(path)}
    result = model.load_state_dict({k: v for k, v in mapped.items() if k is not None}, strict=False)
    missing = [k for k in result.missing_keys if ".lora_" not in k]
    if missing:
        raise CheckpointError(f"{path} lacks weights for {missing[:5]}")
    trainer = path / "trainer_state.json"
    return int(json.loads(trainer.read_text()).get("step", 0)) if trainer.is_file() else 0


def _apply_schedule(opt: torch.optim.Optimizer, sched: LambdaLR, cfg: LMRunConfig, step: int) -> None:
    """The config's learning rates and schedule at ``step``: a resumed run may change them (e.g.
    extend WSD's stable phase); the optimizer's moments and the step count come from the checkpoint."""
    text_lr = cfg.optim.text_lr if cfg.optim.text_lr is not None else cfg.optim.lr
    sched.lr_lambdas = [LRMultiplier(cfg.optim.schedule) for _ in opt.param_groups]
    sched.base_lrs = [
        text_lr if g.get("name", "").startswith("text") else cfg.optim.lr for g in opt.param_groups
    ]
    sched.last_epoch = step
    for group, base, fn in zip(opt.param_groups, sched.base_lrs, sched.lr_lambdas, strict=True):
        group["initial_lr"] = base
        group["lr"] = base * fn(step)
    sched._last_lr = [g["lr"] for g in opt.param_groups]


def train_lm(cfg: LMRunConfig) -> dict[str, Any]:
    """Run (or resume) the configured LM training; returns the summary printed as the last line.

    The global RNG (what LoRA dropout draws from) is seeded with ``cfg.seed`` inside a fork, so
    the caller's random state is as it was when training returns."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(cfg.seed)
        return _train_lm(cfg)


def _train_lm(cfg: LMRunConfig) -> dict[str, Any]:
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    dist = init_distributed(cfg.device)
    if cfg.keep_host_memory and torch.device(dist.device).type == "cpu":
        keep_freed_host_memory()
    prec = Precision.parse(cfg.precision, dist.device)
    out = Path(cfg.out_dir)

    model, tokenizer = build_model(cfg)
    model_config: DualARConfig = model.config
    builder = PromptBuilder(
        tokenizer,
        model_config.num_codebooks,
        model_config.codebook_size,
        frontend=TextFrontend(model_config.text_frontend),
    )
    sb = SampleBuilder(builder, max_len=min(cfg.data.max_len, model_config.slow.max_seq_len))
    train, val = load_sources(cfg.data, model_config.num_codebooks, model_config.codebook_size)
    warm_frontend(builder.frontend, (train, val), progress=dist.is_main)
    base = StepSampler(len(train), cfg.batch_size, cfg.grad_accum, dist.world_size, cfg.data.seed)
    # A group's samples are built once: measured for their length, then batched.
    build = functools.lru_cache(maxsize=cfg.data.length_group_steps * base.global_batch)(
        lambda i, epoch: sb.build_fitting(train.get(i, epoch))
    )
    sampler = LengthGroupedSampler(
        base, cfg.data.length_group_steps, lambda i, epoch: build(i, epoch).length, cfg.data.seed
    )
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        tokenizer.save(out)
        (out / "model_config.json").write_text(json.dumps(model_config.to_dict(), indent=2) + "\n")

    start = 0
    latest = Checkpointer(out / "checkpoints").latest() if cfg.resume == "auto" else None
    weights = Path(cfg.resume_weights) if cfg.resume_weights is not None and latest is None else None
    if weights is not None and not (weights / "state.pt").is_file():
        start = _load_published(weights, model)

    objective = DualARObjective(model, cfg.loss, cfg.model.scale_codebook_embeddings)
    objective.to(device=dist.device, dtype=prec.param_dtype)
    if cfg.model.activation_checkpointing:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing

        apply_activation_checkpointing(objective, check_fn=lambda m: isinstance(m, TransformerBlock))
    if cfg.distributed == "fsdp" and dist.enabled:
        blocks = [m for m in objective.modules() if isinstance(m, TransformerBlock)]
        wrapped = apply_fsdp2(objective, blocks, param_dtype=prec.autocast_dtype)
    else:
        wrapped = wrap_ddp(objective, dist)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg.optim.schedule)
    ckpt = Checkpointer(
        out / "checkpoints", keep_last=cfg.keep_last, is_main=dist.is_main, barrier=dist.barrier
    )
    objects = {"model": ModelState(wrapped), "optim": OptimizerState(wrapped, opt), "sched": sched}

    if latest is not None:
        _check_identity(Checkpointer.read(latest)["extra"], cfg, latest)
        start = int(ckpt.load(latest, objects)["step"])
    elif weights is not None and (weights / "state.pt").is_file():
        _check_identity(Checkpointer.read(weights)["extra"], cfg, weights)
        start = int(ckpt.load(weights, {"model": objects["model"]}, restore_rng=False)["step"])
    _apply_schedule(opt, sched, cfg, start)

    def save(step: int) -> Path:
        extra = {
            "step": step,
            "samples_seen": step * sampler.global_batch,
            "config": config_to_dict(cfg),
            "model_identity": json.loads(json.dumps(cfg.model_identity())),
        }
        return ckpt.save(step, objects, extra=extra)

    on_cpu = torch.device(dist.device).type == "cpu"
    trim_every = cfg.trim_host_memory_every if on_cpu and not allocator_preloaded() else 0
    trim = host_memory_trimmer() if trim_every else None
    log = MetricsLogger(out, enabled=dist.is_main)
    log.log(start, {"precision": prec.name})  # what ``auto`` resolved to on this machine, each start
    bar = progress_bar(cfg.steps, initial=start, enabled=dist.is_main, desc="train lm")
    params = [p for p in wrapped.parameters() if p.requires_grad]
    scaler = prec.grad_scaler()
    first_loss = final_loss = val_loss = None
    stopped_by = None
    last_saved: Path | None = latest
    steps_done = start
    tokens_total, t0 = 0, time.perf_counter()
    try:
        with StopOnSignal() as stop:
            for step in range(start, cfg.steps):
                step_t0 = time.perf_counter()
                batches = []
                for m in range(cfg.grad_accum):
                    values, kinds = collate(
                        [build(i, epoch) for i, epoch in sampler.positions(step, m, dist.rank)],
                        tokenizer.pad_id,
                    )
                    seed = ((cfg.seed * 1_000_003 + step) * cfg.grad_accum + m) * dist.world_size + dist.rank
                    batches.append(
                        (values, kinds, objective.fast_keep(kinds, torch.Generator().manual_seed(seed)))
                    )
                slow_n, fast_n = _sum_counts(objective, batches, dist)
                step_loss = torch.zeros(3, dtype=torch.float64)
                tokens = 0
                for m, (values, kinds, keep) in enumerate(batches):
                    values, kinds = values.to(dist.device), kinds.to(dist.device)
                    keep = keep.to(dist.device) if keep is not None else None
                    tokens += int((kinds > 0).sum())
                    sync = m == cfg.grad_accum - 1 or not hasattr(wrapped, "no_sync")
                    ctx = wrapped.no_sync() if not sync else contextlib.nullcontext()
                    with ctx:
                        with prec.autocast():
                            s, f = wrapped(values, kinds, keep)
                        slow = s / slow_n if slow_n > 0 else s * 0.0
                        fast = f / fast_n if fast_n > 0 else f * 0.0
                        loss = cfg.loss.lambda_slow * slow + cfg.loss.lambda_fast * fast
                        check_finite({"loss": loss}, step, dist)
                        scaler.scale(loss * dist.world_size).backward()
                    step_loss += torch.tensor(
                        [float(x.detach()) for x in (loss, slow, fast)], dtype=torch.float64
                    )
                scaler.unscale_(opt)
                gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
                check_finite({"grad_norm": gnorm}, step, dist)
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                sched.step()
                step_loss = all_reduce_mean(step_loss.to(dist.device), dist).cpu() * dist.world_size
                tok_t = torch.tensor([float(tokens)], device=dist.device)
                tokens = int(all_reduce_mean(tok_t, dist).item() * dist.world_size)
                tokens_total += tokens
                dt = time.perf_counter() - step_t0
                loss_value = float(step_loss[0])
                first_loss = loss_value if first_loss is None else first_loss
                final_loss = loss_value
                done = step + 1
                if done % cfg.log_every == 0 or done == cfg.steps:
                    log.log(done, {
                        "loss": loss_value, "slow_loss": float(step_loss[1]), "fast_loss": float(step_loss[2]),
                        "grad_norm": float(gnorm), "lr": opt.param_groups[0]["lr"], "tokens_per_s": tokens / dt,
                    })  # fmt: skip
                bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tokens / dt:.0f}")
                bar.update(1)
                if done % cfg.val_every == 0 or done == cfg.steps:
                    val_loss = _validate(wrapped, objective, val, cfg, sb, tokenizer.pad_id, dist, prec)
                    if val_loss is not None:
                        log.log(done, {"val_loss": val_loss})
                    if cfg.val_text_gain and len(val) > 1:
                        n_val = min(len(val), cfg.val_batches * cfg.batch_size)
                        convs = [val.get(i, 0) for i in range(n_val)]
                        log.log(done, text_gain(wrapped, objective, convs, sb, tokenizer.pad_id,
                                                cfg.batch_size, dist.device, prec))  # fmt: skip
                    if cfg.sample.text and dist.is_main and not (cfg.distributed == "fsdp" and dist.enabled):
                        log.log(
                            done, write_sample(model, builder, cfg.sample, out, done, cfg.model.init_from)
                        )
                if trim is not None and done % trim_every == 0:
                    trim()
                interrupted = any_rank(stop.requested, dist)
                if done % cfg.save_every == 0 or done == cfg.steps or interrupted:
                    last_saved, steps_done = save(done), done
                if interrupted:
                    stopped_by = stop.signal_name or "signal"
                    break
    finally:
        bar.close()
        log.close()

    export = None
    if cfg.export_on_finish and stopped_by is None:
        state = {k.removeprefix("model."): v for k, v in ModelState(wrapped).state_dict().items()}
        if dist.is_main:
            export = export_published(
                state, model_config, tokenizer, cfg.lora, out / "model",
                codec_from=cfg.model.init_from,
                trainer_state={"step": steps_done, "config": config_to_dict(cfg)},
            )  # fmt: skip
        dist.barrier()
    if dist.is_main and (out / "metrics.jsonl").is_file():
        plot_metrics(out / "metrics.jsonl", out / "loss.png", ["loss", "val_loss"], title="LM training loss")
    elapsed = time.perf_counter() - t0
    return {
        "steps": steps_done,
        "first_loss": first_loss,
        "final_loss": final_loss,
        "val_loss": val_loss,
        "checkpoint": str(last_saved) if last_saved is not None else None,
        "export": str(export) if export is not None else None,
        "tokens_per_s": tokens_total / elapsed if elapsed > 0 else 0.0,
        "stopped_by": stopped_by,
        "world_size": dist.world_size,
    }
