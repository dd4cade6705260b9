"""Codec GAN trainer: ``s2tts train codec --config FILE [key=value ...]`` or, distributed,
``torchrun --nproc_per_node N -m s2tts.training.codec --config FILE [key=value ...]``.

One step (after the phases of :class:`~s2tts.training.codec.config.PhaseSection`)::

    crops (B, 1, n) -> generator: encoder -> [straight-through RVQ, quantizer dropout] -> decoder
    D step:  D([sg(fake); real]) -> LSGAN/hinge -> clip 10 -> AdamW       (from phases.gan_start)
    G step:  15 mel + 2 feature + 1 adversarial + 0.25 commitment + 1 codebook [+ distill]
             -> clip 1e3 -> AdamW

Both networks go through one forward per backward (D sees fake and real concatenated), so DDP
works without unused-graph tricks. Checkpoints hold G (with EMA codebook statistics and the
distillation head), D, both optimizers and schedules, the data generator, the training
generator, RNG and phase state: a resumed run continues bit-exactly. The last stdout line is a
JSON summary; the exported codec (``<out>/export``) is what :func:`load_codec` reads.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from s2tts.errors import TrainConfigError
from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig, DecoderConfig
from s2tts.training.checkpointing import Checkpointer, GeneratorState, ModelState, OptimizerState
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.codec.data import (
    ClipSource,
    CropSampler,
    InMemoryClips,
    crop_samples,
    fixed_crops,
    list_audio,
    list_manifest,
    load_folder,
    synthesize_corpus,
)
from s2tts.training.codec.discriminators import Discriminators
from s2tts.training.codec.distill import SemanticHead, distill_loss, resample_frames
from s2tts.training.codec.export import export_codec
from s2tts.training.codec.generator import GeneratorOutput, add_weight_norm, autoencode
from s2tts.training.codec.losses import (
    MelLossConfig,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from s2tts.training.codec.quantize import CodebookEMA, _gather, all_vqs, kmeans_init, sample_active
from s2tts.training.codec.stream import StreamingClips, build_index
from s2tts.training.codec.validate import validate
from s2tts.training.distributed import DistInfo, finish, init_distributed, unwrap, wrap_ddp
from s2tts.training.guards import check_finite
from s2tts.training.interrupt import StopOnSignal
from s2tts.training.metrics_log import MetricsLogger, plot_metrics, progress_bar
from s2tts.training.precision import Precision
from s2tts.training.run_config import config_to_dict, load_config, save_config
from s2tts.training.schedules import build_scheduler

log = logging.getLogger(__name__)


class Generator(nn.Module):
    """The codec plus what only training keeps: EMA codebook statistics and the distillation head."""

    def __init__(self, codec: Codec, cfg: CodecTrainConfig, teacher_dim: int | None) -> None:
        super().__init__()
        self.codec = codec
        self.cfg = cfg
        self.ema = CodebookEMA(codec.quantizer) if cfg.vq.mode == "ema" else None
        self.head = SemanticHead(codec.config.latent_dim, teacher_dim) if teacher_dim else None
        if self.ema is not None:  # rows (and centred projection biases) move by EMA, not by the optimizer
            for vq in all_vqs(codec.quantizer):
                vq.codebook.weight.requires_grad_(False)
                if cfg.vq.center_rate > 0:
                    vq.in_proj.bias.requires_grad_(False)
        if cfg.freeze_codes:
            freeze_code_path(codec)
            if self.head is not None:
                self.head.requires_grad_(False)

    def forward(
        self, audio: torch.Tensor, quantize: bool, n_active: torch.Tensor, generator: torch.Generator
    ) -> tuple[GeneratorOutput, torch.Tensor | None]:
        ema = None if self.cfg.freeze_codes else self.ema  # frozen codebooks take no EMA updates
        out = autoencode(self.codec, audio, self.cfg.vq, quantize, ema, n_active, generator)
        semantic = None
        if self.head is not None and out.quantized is not None and not self.cfg.freeze_codes:
            semantic = self.head(out.quantized.semantic)
        return out, semantic


def freeze_code_path(codec: Codec) -> None:
    """Stop gradients to everything that decides the codes (in place): the encoder, the quantizer's
    downsampling and pre-module, and every codebook with its projections -- the output projection
    too, since each residual codebook quantises what the previous ones' projected rows left."""
    q = codec.quantizer
    for module in (codec.encoder, q.downsample, q.pre_module, *all_vqs(q)):
        module.requires_grad_(False)


def build_codec(cfg: CodecTrainConfig) -> Codec:
    m = cfg.model
    config = CodecConfig.from_json(m.config_json) if m.config_json else CodecConfig.preset(m.preset)
    d = config.decoder
    changes = {
        k: v
        for k, v in (("kind", m.decoder_kind), ("dim", m.decoder_dim), ("istft_layers", m.istft_layers))
        if v is not None
    }
    if changes:
        config = config.replace(decoder=DecoderConfig(**{**d.__dict__, **changes}))
    if m.init_from:
        from s2tts.models.codec.weights import load_codec

        codec = load_codec(m.init_from, config=config if m.config_json or changes else None)
        return add_weight_norm(codec.float().train())
    return add_weight_norm(Codec(config).train())


def _source(cfg: CodecTrainConfig, codec: Codec, dist: DistInfo) -> ClipSource:
    """The training clips: held in memory, or (``data.stream``) indexed and read crop by crop."""
    d = cfg.data
    if d.audio_dir is not None and d.manifest is not None:
        raise TrainConfigError("set data.audio_dir or data.manifest, not both")
    if d.manifest is not None:
        root, names = list_manifest(d.manifest, d.split)
    elif d.audio_dir is not None:
        root = Path(d.audio_dir)
        names = list_audio(root)
    elif d.synthetic > 0:
        root = cfg.out_dir / "synthetic"
        if dist.is_main:
            synthesize_corpus(root, d.synthetic, cfg.seed)
        dist.barrier()
        names = list_audio(root)
    else:
        raise TrainConfigError(
            "set data.audio_dir (a folder of audio), data.manifest or data.synthetic (espeak-ng clips)"
        )
    if not d.stream:
        return InMemoryClips(load_folder(root, codec.sample_rate, codec.frame_length, names))
    cache = cfg.out_dir / "audio-index.json"
    # one process reads the headers; the others find the cache
    entries = build_index(root, names, cache, progress=True) if dist.is_main else None
    dist.barrier()
    if entries is None:
        entries = build_index(root, names, cache, progress=False)
    return StreamingClips(root, entries, codec.sample_rate, codec.frame_length)


@dataclass
class Phase:
    kmeans_done: bool = False


def train(cfg: CodecTrainConfig) -> dict[str, Any]:
    """Run (or resume) the configured training; returns the summary printed as the last line."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    dist = init_distributed(cfg.device)
    precision = Precision.parse(cfg.precision, dist.device)
    teacher = None
    if cfg.distill.enabled and not cfg.freeze_codes:  # frozen codes: codebook 0 learns nothing
        from s2tts.training.codec.whisper_teacher import WhisperEncoderTeacher

        teacher = WhisperEncoderTeacher()
    with torch.random.fork_rng():  # seeded parameter init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        codec = build_codec(cfg)
        gen_model = Generator(codec, cfg, teacher.dim if teacher else None).to(dist.device)
        disc = Discriminators(cfg.discriminators).to(dist.device)
    g_ddp = wrap_ddp(gen_model, dist, find_unused_parameters=True, broadcast_buffers=False)
    d_ddp = wrap_ddp(disc, dist, broadcast_buffers=False)
    o = cfg.optim
    g_params = [p for p in gen_model.parameters() if p.requires_grad]
    opt_g = torch.optim.AdamW(g_params, lr=o.lr_g, betas=o.betas, weight_decay=o.weight_decay)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=o.lr_d, betas=o.betas, weight_decay=o.weight_decay)
    sched_g, sched_d = build_scheduler(opt_g, o.schedule_g), build_scheduler(opt_d, o.schedule_d)
    mel = MultiScaleMelLoss(codec.sample_rate, MelLossConfig(cfg.loss.mel_windows, cfg.loss.mel_bins)).to(
        dist.device
    )

    clips = _source(cfg, codec, dist)
    crop = crop_samples(cfg.data.crop_seconds, codec.sample_rate, codec.frame_length)
    sampler = CropSampler(clips, crop, cfg.data.batch_size, dist.rank, dist.world_size, cfg.seed)
    val_audio = fixed_crops(
        clips, crop_samples(cfg.data.val_seconds, codec.sample_rate, codec.frame_length), cfg.data.val_clips
    ).to(dist.device)
    train_gen = torch.Generator().manual_seed(cfg.seed + 1)  # dropout draws, dead-code restarts

    # the distillation head is a training-only part: a run without one (no distillation, or frozen
    # codes) starts or resumes from a checkpoint that has one without it
    drop = () if gen_model.head is not None else ("head.",)
    objects = {
        "generator": ModelState(g_ddp, drop),
        "discriminator": ModelState(d_ddp),
        "opt_g": OptimizerState(g_ddp, opt_g),
        "opt_d": OptimizerState(d_ddp, opt_d),
        "sched_g": sched_g,
        "sched_d": sched_d,
        "data": GeneratorState(sampler.generator),
        "train_rng": GeneratorState(train_gen),
    }
    ckpt = Checkpointer(cfg.out_dir / "checkpoints", cfg.keep_last, dist.is_main, dist.barrier)
    start, phase, first_mel = 0, Phase(), None
    reservoir: collections.deque[torch.Tensor] = collections.deque(maxlen=max(cfg.phases.kmeans_batches, 1))
    latest = ckpt.latest() if cfg.resume else None
    if latest is not None:
        extra = ckpt.load(latest, objects)
        start, first_mel = int(extra["step"]), extra.get("first_mel_loss")
        phase.kmeans_done = bool(extra.get("kmeans_done", False))
        reservoir.extend(extra.get("reservoir", []))
        log.info("resumed from %s at step %d", latest, start)
    elif cfg.weights_from:
        Checkpointer.read(cfg.weights_from)  # typed error for a bad path
        ckpt.load(cfg.weights_from, {"generator": ModelState(g_ddp, drop)}, restore_rng=False)
        phase.kmeans_done = True
    elif cfg.model.init_from:
        phase.kmeans_done = True  # an exported codec's codebooks are trained: no k-means at the switch
    elif cfg.freeze_codes:
        raise TrainConfigError(
            "freeze_codes keeps a trained codec's codes: give weights_from=CHECKPOINT_DIR "
            "(a codec training checkpoint), model.init_from=EXPORTED_CODEC or resume a run"
        )

    recent_mel: collections.deque[float] = collections.deque(maxlen=max(cfg.log_every, 1))
    step, stopped, t0, seen = start, False, time.perf_counter(), 0.0
    n_res = codec.config.quantizer.n_codebooks
    with StopOnSignal() as stop, MetricsLogger(cfg.out_dir, enabled=dist.is_main) as logger:
        bar = progress_bar(cfg.steps, start, enabled=dist.is_main, desc="codec")
        while step < cfg.steps:
            quantize = step >= cfg.phases.unquantized_steps or cfg.freeze_codes
            if quantize and cfg.phases.unquantized_steps > 0 and not phase.kmeans_done:
                _kmeans(codec, gen_model.ema, reservoir, cfg, dist)
                phase.kmeans_done = True
                reservoir.clear()
            audio, clip_ids, starts = sampler.next_batch()
            audio = audio.to(dist.device)
            per = cfg.data.batch_size // dist.world_size
            n_active = sample_active(cfg.data.batch_size, n_res, cfg.vq.dropout, train_gen)
            n_active = n_active[dist.rank * per : (dist.rank + 1) * per]
            gan = step >= cfg.phases.gan_start and cfg.loss.adversarial + cfg.loss.feature > 0
            metrics = _step(
                cfg,
                g_ddp,
                d_ddp,
                opt_g,
                opt_d,
                mel,
                teacher,
                audio,
                quantize,
                n_active,
                train_gen,
                gan,
                precision,
                dist,
            )
            sched_g.step()
            if gan:
                sched_d.step()
            if not quantize:
                reservoir.append(metrics.pop("_z"))
            else:
                metrics.pop("_z")
            check_finite({k: v for k, v in metrics.items() if k.startswith("loss")}, step, dist)
            if first_mel is None:
                first_mel = metrics["loss_mel"]
            recent_mel.append(metrics["loss_mel"])
            step += 1
            seen += audio.shape[0] * dist.world_size * audio.shape[-1] / codec.sample_rate
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            bar.update(1)
            bar.set_postfix(mel=f"{metrics['loss_mel']:.3f}", audio_s_per_s=f"{rate:.1f}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                logger.log(step, {**metrics, "audio_s_per_s": rate, "lr_g": sched_g.get_last_lr()[0]})
            if (step % cfg.val_every == 0 or step == cfg.steps) and dist.is_main:
                logger.log(step, validate(codec, val_audio, mel, quantize, cfg.out_dir, step))
            stop_now = stop.requested
            if dist.enabled:
                from s2tts.training.distributed import any_rank

                stop_now = any_rank(stop_now, dist)
            if step % cfg.save_every == 0 or step == cfg.steps or stop_now:
                extra = {
                    "step": step, "first_mel_loss": first_mel, "kmeans_done": phase.kmeans_done,
                    "reservoir": list(reservoir), "config": config_to_dict(cfg),
                }  # fmt: skip
                ckpt.save(step, objects, extra=extra)
            if stop_now:
                stopped = True
                break
        bar.close()
    export = cfg.out_dir / "export"
    summary: dict[str, Any] = {
        "steps": step,
        "first_mel_loss": first_mel,
        "final_mel_loss": sum(recent_mel) / len(recent_mel) if recent_mel else None,
        "checkpoint": str(export),
        "train_checkpoint": str(ckpt.latest()) if ckpt.latest() else None,
        "stopped": stopped,
    }
    if dist.is_main:
        export_codec(unwrap(g_ddp).codec, export)
        if cfg.export_to:
            export_codec(unwrap(g_ddp).codec, cfg.export_to)
        plot_metrics(cfg.out_dir / "metrics.jsonl", cfg.out_dir / "curves.png", ["loss_mel", "val_mel"])
    summary["dist"] = dist
    return summary


def _kmeans(codec: Codec, ema: CodebookEMA | None, reservoir, cfg: CodecTrainConfig, dist: DistInfo) -> None:
    if not reservoir:
        return
    # Gathered step by step: every rank clusters the same global latents, in the same order as
    # one process would see them, with the same generator.
    z = torch.cat([_gather(r.reshape(-1, r.shape[-1]).to(dist.device)) for r in reservoir])
    kmeans_init(
        codec.quantizer, z, torch.Generator().manual_seed(cfg.seed + 2), cfg.phases.kmeans_iters, cfg.vq
    )
    if ema is not None:
        ema.reset_from(codec.quantizer)


def _step(
    cfg: CodecTrainConfig, g_ddp: nn.Module, d_ddp: nn.Module, opt_g, opt_d, mel: MultiScaleMelLoss,
    teacher, audio: torch.Tensor, quantize: bool, n_active: torch.Tensor, train_gen: torch.Generator,
    gan: bool, precision: Precision, dist: DistInfo,
) -> dict[str, Any]:  # fmt: skip
    w = cfg.loss
    metrics: dict[str, Any] = {}
    with precision.autocast():
        out, semantic = g_ddp(audio, quantize, n_active, train_gen)
    fake = out.audio.float()
    metrics["_z"] = out.z.detach().float().cpu()
    k = max(1, round(w.gan_fraction * audio.shape[0]))  # the first k items go through D
    if gan:
        opt_d.zero_grad(set_to_none=True)
        with precision.autocast():
            maps = d_ddp(torch.cat([fake[:k].detach(), audio[:k]]))
        fake_maps, real_maps = _split(maps)
        loss_d = discriminator_loss(fake_maps, real_maps, w.adversarial_kind)
        loss_d.backward()
        metrics["grad_norm_d"] = float(
            torch.nn.utils.clip_grad_norm_(unwrap(d_ddp).parameters(), cfg.optim.clip_d)
        )
        opt_d.step()
        metrics["loss_d"] = float(loss_d.detach())
    opt_g.zero_grad(set_to_none=True)
    loss_mel = mel(fake, audio)
    total = w.mel * loss_mel
    if gan:
        with precision.autocast(), _no_sync(d_ddp):
            maps = d_ddp(torch.cat([fake[:k], audio[:k]]))
        fake_maps, real_maps = _split(maps)
        loss_adv = generator_adversarial_loss(fake_maps, w.adversarial_kind)
        loss_feat = feature_matching_loss(fake_maps, real_maps)
        total = total + w.adversarial * loss_adv + w.feature * loss_feat
        metrics.update(loss_adv=float(loss_adv.detach()), loss_feature=float(loss_feat.detach()))
    if out.quantized is not None:
        q = out.quantized
        total = total + w.commitment * q.commitment + w.codebook * q.codebook
        metrics.update(loss_commitment=float(q.commitment.detach()), loss_codebook=float(q.codebook.detach()))
    if semantic is not None and teacher is not None:
        with torch.no_grad():
            target = teacher(audio.cpu(), unwrap(g_ddp).codec.sample_rate)
            target = resample_frames(
                target, teacher.frame_rate, unwrap(g_ddp).codec.frame_rate, semantic.shape[1]
            )
        loss_distill = distill_loss(semantic, target.to(semantic.device), cfg.distill.loss)
        total = total + w.distill * loss_distill
        metrics["loss_distill"] = float(loss_distill.detach())
    total.backward()
    params = [p for p in unwrap(g_ddp).parameters() if p.requires_grad]
    metrics["grad_norm_g"] = float(torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip_g))
    for p in params:  # parts idle in this phase (quantizer in the warm-up) get a zero gradient,
        if p.grad is None:  # so every parameter has optimizer state and any checkpoint resumes
            p.grad = torch.zeros_like(p)
    opt_g.step()
    if gan:  # D's grads from the G step are not D's to use
        opt_d.zero_grad(set_to_none=True)
    metrics.update(loss_mel=float(loss_mel.detach()), loss_g=float(total.detach()))
    return metrics


def _split(maps: list[list[torch.Tensor]]) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Outputs of D on [fake; real] -> (fake maps, real maps), each half of the batch, in fp32."""
    fake = [[m[: m.shape[0] // 2].float() for m in sub] for sub in maps]
    real = [[m[m.shape[0] // 2 :].float() for m in sub] for sub in maps]
    return fake, real


def _no_sync(module: nn.Module):
    import contextlib

    return module.no_sync() if hasattr(module, "no_sync") else contextlib.nullcontext()


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m s2tts.training.codec`` (torchrun) and ``s2tts train codec``."""
    import argparse

    parser = argparse.ArgumentParser(prog="s2tts train codec")
    parser.add_argument("--config", help="YAML/TOML run config")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr_g=2e-4")
    args = parser.parse_args(argv)
    return run(args.config, args.overrides)


def run(config: str | None, overrides: list[str]) -> int:
    cfg = load_config(CodecTrainConfig, config, overrides)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cfg.out_dir / "config.yaml")
    summary = train(cfg)
    dist = summary.pop("dist")
    if dist.is_main:
        print(json.dumps(summary), flush=True)
    finish(dist)
    return 0
