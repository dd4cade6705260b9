"""The LM trainer's run config (YAML/TOML + ``a.b=value`` overrides, see ``run_config``).

Sections::

    out_dir, steps, seed, device, threads (torch intra-op threads), precision, distributed,
    keep_host_memory (on CPU, glibc keeps freed memory for the next step instead of page-faulting
    it in again: ~10% faster steps, resident memory stays at its peak; see ``host_memory.py``),
    trim_host_memory_every (on CPU with glibc's malloc, give the fragmented heap's free pages back
    every N steps: bounded memory for ~16% slower steps; skipped when jemalloc is preloaded)
    model:  preset + codec_preset (pre-training from random init) or init_from (a checkpoint
            directory in the published layout: full fine-tuning / LoRA); scale_codebook_embeddings
            (train as inference embeds), activation_checkpointing, text_frontend (what the model
            reads for text when pre-trained from scratch: "text" as written, or "espeak" IPA phonemes;
            recorded in the exported config.json; with init_from the checkpoint's front end is kept)
    vocab:  add_tokens (grown with N(mu, Sigma) rows), special
    lora:   LoRAConfig (enabled, rank, alpha, rslora, dropout, targets, train_also)
    data:   DataConfig (source, path, synthetic, turns_per_sample, reference_prob, val_fraction, max_len,
            length_group_steps: batches of similar length from this many steps' samples)
    loss:   LossConfig (lambda_slow, lambda_fast, text_loss, weights, constrained_audio, codebook weights)
    optim:  lr (audio modules), text_lr (text backbone; null = lr), betas, eps, weight_decay,
            grad_clip, fused (torch's one-kernel AdamW, the default of transformers' Trainer; false:
            the per-tensor loop -- the same update within float rounding), schedule (ScheduleConfig)
    sample: text spoken at every validation through the inference path (codes + wav if a codec)
    batch_size (per rank and micro-batch), grad_accum
    save_every, keep_last, val_every, val_batches, val_text_gain (audio CE with own vs another
    sample's text: does the model read?), log_every, resume (auto | never),
    resume_weights (a training checkpoint or published directory: weights only, fresh optimizer),
    export_on_finish (write the published layout to out_dir/model at the end)

Example (pre-train the tiny preset on the generated fixture)::

    s2tts train lm --config configs/train/lm-smoke.yaml steps=100 optim.lr=1e-3
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from s2tts.errors import TrainConfigError
from s2tts.text.frontend import FRONTENDS
from s2tts.training.lm.data import DataConfig
from s2tts.training.lm.listen import SampleConfig
from s2tts.training.lm.losses import LossConfig
from s2tts.training.lora import LoRAConfig
from s2tts.training.precision import PRECISIONS
from s2tts.training.schedules import ScheduleConfig

__all__ = ["LMRunConfig", "ModelSection", "OptimSection", "VocabSection"]


@dataclass(frozen=True)
class ModelSection:
    preset: str = "tiny"
    codec_preset: str | None = "tiny"
    init_from: Path | None = None
    init_seed: int = 0
    scale_codebook_embeddings: bool = True
    activation_checkpointing: bool = False
    text_frontend: str = "text"


@dataclass(frozen=True)
class VocabSection:
    add_tokens: list[str] = field(default_factory=list)
    special: bool = True
    seed: int = 0


@dataclass(frozen=True)
class OptimSection:
    lr: float = 3e-4
    text_lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    fused: bool = True
    schedule: ScheduleConfig = ScheduleConfig(kind="wsd", warmup_steps=10, total_steps=1000)


@dataclass(frozen=True)
class LMRunConfig:
    out_dir: Path = Path("runs/lm")
    steps: int = 1000
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    precision: str = "fp32"
    distributed: Literal["ddp", "fsdp"] = "ddp"
    keep_host_memory: bool = True
    trim_host_memory_every: int = 1  # steps between malloc_trim calls on CPU (0: never); see host_memory.py
    model: ModelSection = ModelSection()
    vocab: VocabSection = field(default_factory=VocabSection)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    data: DataConfig = DataConfig()
    loss: LossConfig = LossConfig()
    optim: OptimSection = OptimSection()
    sample: SampleConfig = SampleConfig()
    batch_size: int = 4
    grad_accum: int = 1
    save_every: int = 100
    keep_last: int = 2
    val_every: int = 100
    val_batches: int = 4
    val_text_gain: bool = True  # also log audio CE with another sample's text (does it read?)
    log_every: int = 1
    resume: Literal["auto", "never"] = "auto"
    resume_weights: Path | None = None
    export_on_finish: bool = True

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "grad_accum",
            "save_every",
            "keep_last",
            "val_every",
            "log_every",
        ):
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.data.length_group_steps < 1:
            raise TrainConfigError(
                f"data.length_group_steps must be >= 1, got {self.data.length_group_steps}"
            )
        if self.trim_host_memory_every < 0:
            raise TrainConfigError(f"trim_host_memory_every must be >= 0, got {self.trim_host_memory_every}")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.model.text_frontend not in FRONTENDS:
            raise TrainConfigError(
                f"model.text_frontend must be one of {list(FRONTENDS)}, got {self.model.text_frontend!r}"
            )
        if self.model.init_from is not None and self.model.text_frontend != "text":
            raise TrainConfigError(
                "model.text_frontend applies to pre-training from scratch; a model fine-tuned from "
                "model.init_from keeps the front end its checkpoint was trained with"
            )
        if self.lora.enabled and self.model.init_from is None:
            raise TrainConfigError("lora.enabled needs model.init_from (LoRA adapts a trained checkpoint)")

    def model_identity(self) -> dict[str, object]:
        """What a checkpoint must agree on to be resumed by this config (the text front end only when
        it is not the default, so runs saved before it existed still resume)."""
        identity: dict[str, object] = {
            "preset": self.model.preset if self.model.init_from is None else None,
            "codec_preset": self.model.codec_preset if self.model.init_from is None else None,
            "init_from": str(self.model.init_from) if self.model.init_from is not None else None,
            "add_tokens": list(self.vocab.add_tokens),
            "lora": [self.lora.enabled, self.lora.rank, list(self.lora.targets)]
            if self.lora.enabled
            else None,
        }
        if self.model.text_frontend != "text":
            identity["text_frontend"] = self.model.text_frontend
        return identity
