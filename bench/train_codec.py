"""Codec training throughput: seconds of audio trained per second, generator-only vs with the GAN.

Runs the trainer's own step (``s2tts.training.codec.recipe._step``) on random-weight codecs:

* the small CPU configuration (``cpu-small`` codec, the discriminators of
  ``configs/train/codec-cpu-small.yaml``): generator-only steps (mel + RVQ losses) and GAN steps
  (D step + G step with adversarial and feature-matching losses), **interleaved** in one process
  so both see the same machine load; the discriminators' share of a GAN step; model FLOPs per
  second (``torch.utils.flop_counter``) against a same-run fp32 GEMM peak (MFU);
* the released shape (``s2-codec``, default discriminators), one generator-only and one GAN step
  on a short crop in a child process: time and peak RSS.

The machine is shared, so ``os.getloadavg()`` is recorded; compare figures within one run only.
The last line is one JSON object (keys include ``gen_only_audio_s_per_s``, ``gan_audio_s_per_s``,
``gan_vs_generator_only``).

    python bench/train_codec.py [--threads 1] [--batch 4] [--crop 0.5] [--repeats 4] [--no-released]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb, run_child  # noqa: E402

ROOT = Path(__file__).parents[1]


def gemm_peak_gflops(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def build(preset: str, config_file: Path | None, batch: int, crop: float):
    from s2tts.training.codec.config import CodecTrainConfig
    from s2tts.training.codec.discriminators import Discriminators
    from s2tts.training.codec.losses import MelLossConfig, MultiScaleMelLoss
    from s2tts.training.codec.recipe import Generator, build_codec
    from s2tts.training.run_config import load_config

    overrides = [f"model.preset={preset}", f"data.batch_size={batch}", f"data.crop_seconds={crop}"]
    cfg = load_config(CodecTrainConfig, config_file, overrides)
    torch.manual_seed(0)
    codec = build_codec(cfg)
    gen = Generator(codec, cfg, None)
    disc = Discriminators(cfg.discriminators)
    opt_g = torch.optim.AdamW(
        [p for p in gen.parameters() if p.requires_grad], lr=1e-4, betas=cfg.optim.betas
    )
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4, betas=cfg.optim.betas)
    mel = MultiScaleMelLoss(codec.sample_rate, MelLossConfig(cfg.loss.mel_windows, cfg.loss.mel_bins))
    frames = max(1, round(crop * codec.sample_rate / codec.frame_length))
    audio = 0.1 * torch.randn(
        batch, 1, frames * codec.frame_length, generator=torch.Generator().manual_seed(0)
    )
    return cfg, gen, disc, opt_g, opt_d, mel, audio


def make_step(parts):
    from s2tts.training.codec.recipe import _step
    from s2tts.training.distributed import DistInfo
    from s2tts.training.precision import Precision

    cfg, gen, disc, opt_g, opt_d, mel, audio = parts
    n_active = torch.full((audio.shape[0],), gen.codec.num_codebooks)
    rng = torch.Generator().manual_seed(1)
    precision, dist = Precision.parse("fp32", torch.device("cpu")), DistInfo()

    def step(gan: bool) -> float:
        start = time.perf_counter()
        _step(cfg, gen, disc, opt_g, opt_d, mel, None, audio, True, n_active, rng, gan, precision, dist)
        return time.perf_counter() - start

    return step


def step_flops(parts, gan: bool) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    step = make_step(parts)
    with FlopCounterMode(display=False) as counter:
        step(gan)
    return float(counter.get_total_flops())


def small(args) -> dict:
    config = ROOT / "configs" / "train" / "codec-cpu-small.yaml"
    parts = build("cpu-small", config, args.batch, args.crop)
    audio_s = parts[-1].shape[0] * parts[-1].shape[-1] / 44100
    step = make_step(parts)
    step(False), step(True)  # warm-up
    gen_times, gan_times = [], []
    for _ in range(args.repeats):  # interleaved: both see the same load
        gen_times.append(step(False))
        gan_times.append(step(True))
    gen_t, gan_t = statistics.median(gen_times), statistics.median(gan_times)
    peak = gemm_peak_gflops()
    flops_gen = step_flops(parts, False)
    flops_gan = step_flops(parts, True)
    n_g = sum(p.numel() for p in parts[1].parameters())
    n_d = sum(p.numel() for p in parts[2].parameters())
    return {
        "gen_only_audio_s_per_s": audio_s / gen_t,
        "gan_audio_s_per_s": audio_s / gan_t,
        "gan_vs_generator_only": gen_t / gan_t,
        "discriminator_share_of_gan_step": 1 - gen_t / gan_t,
        "gen_only_step_s": gen_t,
        "gan_step_s": gan_t,
        "audio_s_per_step": audio_s,
        "gemm_peak_gflops": peak,
        "gen_only_gflops": flops_gen / gen_t / 1e9,
        "gan_gflops": flops_gan / gan_t / 1e9,
        "mfu_gen_only": flops_gen / gen_t / 1e9 / peak,
        "mfu_gan": flops_gan / gan_t / 1e9 / peak,
        "generator_params_m": n_g / 1e6,
        "discriminator_params_m": n_d / 1e6,
    }


def released_child(batch: int, crop: float) -> dict:
    parts = build("s2-codec", None, batch, crop)
    audio_s = parts[-1].shape[0] * parts[-1].shape[-1] / 44100
    step = make_step(parts)
    gen_t = step(False)
    gan_t = step(True)
    return {
        "released_audio_s_per_step": audio_s,
        "released_gen_only_step_s": gen_t,
        "released_gan_step_s": gan_t,
        "released_generator_params_m": sum(p.numel() for p in parts[1].parameters()) / 1e6,
        "released_peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--released-batch", type=int, default=1)
    parser.add_argument("--released-crop", type=float, default=0.19)
    parser.add_argument("--no-released", action="store_true")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child is not None:
        print(json.dumps(released_child(int(args.child[0]), float(args.child[1]))))
        return
    out: dict = {"threads": args.threads, "loadavg_start": list(os.getloadavg())}
    out.update(small(args))
    if not args.no_released:
        child_args = [str(args.released_batch), str(args.released_crop), "--threads", str(args.threads)]
        out.update(run_child(__file__, child_args, timeout=1800))
    out["loadavg_end"] = list(os.getloadavg())
    for key, value in out.items():
        print(f"{key}: {value}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
