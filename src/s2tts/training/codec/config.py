"""Run config of the codec trainer (``s2tts train codec --config FILE key=value ...``).

Defaults follow DAC (loss weights mel 15 / feature 2 / adversarial 1 / commitment 0.25 /
codebook 1; AdamW 1e-4, betas (0.8, 0.99); G clip 1e3, D clip 10) plus what measured helpful on
CPU: an unquantised warm-up, k-means initialisation of the codebooks, EMA codebooks with dead-code
restarts, and the GAN started late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from s2tts.training.codec.discriminators import DiscriminatorConfig
from s2tts.training.codec.quantize import VQTrainConfig
from s2tts.training.schedules import ScheduleConfig


@dataclass
class ModelSection:
    preset: str = "tiny"  # a CodecConfig preset: tiny, small, s2-codec, cpu-small, cpu-small-stft(-deep)
    config_json: str | None = None  # a codec config JSON instead of the preset
    decoder_kind: Literal["dac", "istft"] | None = None  # override the preset's decoder
    decoder_dim: int | None = None
    istft_layers: int | None = None
    init_from: str | None = None  # codec.pth / .safetensors / directory to fine-tune


@dataclass
class DataSection:
    audio_dir: str | None = None  # any folder of audio files
    manifest: str | None = None  # or: a corpus manifest (manifest.parquet or its directory)
    split: str = "train"  # the manifest rows to train on ("" for every row)
    synthetic: int = 0  # or: this many espeak-ng utterances written under out_dir/synthetic
    stream: bool = False  # read each crop from disk (an index cached in out_dir), not all audio in memory
    crop_seconds: float = 1.0
    batch_size: int = 8  # global, split across processes
    val_clips: int = 4  # the first files, cropped to val_seconds, also used for training
    val_seconds: float = 2.0


@dataclass
class LossSection:
    mel: float = 15.0
    feature: float = 2.0
    adversarial: float = 1.0
    commitment: float = 0.25
    codebook: float = 1.0
    distill: float = 1.0
    adversarial_kind: Literal["lsgan", "hinge"] = "lsgan"
    gan_fraction: float = 1.0  # share of the batch the discriminators see (0.5 halves their cost)
    mel_windows: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
    mel_bins: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)


@dataclass
class PhaseSection:
    unquantized_steps: int = 0  # warm-up with the quantiser bypassed, then k-means init
    kmeans_batches: int = 8  # how many recent batches of latents feed k-means
    kmeans_iters: int = 10
    gan_start: int = 0  # discriminators and adversarial losses from this step on


@dataclass
class OptimSection:
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.0
    clip_g: float = 1000.0
    clip_d: float = 10.0
    schedule_g: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(kind="constant"))
    schedule_d: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(kind="constant"))


@dataclass
class DistillSection:
    enabled: bool = False
    teacher: Literal["whisper-base"] = "whisper-base"
    loss: Literal["cosine", "l1"] = "cosine"


@dataclass
class CodecTrainConfig:
    out_dir: Path = Path("runs/codec")
    steps: int = 1000
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    threads: int = 0  # torch CPU threads (0: leave torch's default)
    log_every: int = 10
    val_every: int = 200
    save_every: int = 200
    keep_last: int = 2
    resume: bool = True  # continue from out_dir/checkpoints/latest when present
    weights_from: str | None = None  # weights-only start from a training checkpoint directory
    # Train only what turns codes into audio (the quantizer's post-module and upsampling, the
    # decoder); the encoder and the codebooks with their projections stay as loaded, so every code
    # keeps its meaning (an LM trained on this codec's codes stays valid). Needs weights_from,
    # model.init_from (an exported codec, e.g. a fp16 milestone) or a run to resume.
    freeze_codes: bool = False
    export_to: str | None = None  # also write the codec into this (LM checkpoint) directory
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    loss: LossSection = field(default_factory=LossSection)
    phases: PhaseSection = field(default_factory=PhaseSection)
    optim: OptimSection = field(default_factory=OptimSection)
    vq: VQTrainConfig = field(default_factory=VQTrainConfig)
    discriminators: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    distill: DistillSection = field(default_factory=DistillSection)
