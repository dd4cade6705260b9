"""Sizes for the small CPU model: training throughput and decode speed of candidate LM shapes.

For each candidate Dual-AR shape (4 codebooks, semantic codebook 1024: the ``cpu-small`` codec) it
times, interleaved in one process at ``--threads`` threads (1 by default, so a loaded machine hits
every candidate alike):

* one training step of the LM trainer's objective (slow AR over every column, fast AR over every
  frame, backward, clipping, AdamW) -> training tokens per second (columns of the batch);
* batch-1 decoding on the one decode path (``Decoder`` + ``generate_batch``) -> frames per (wall)
  second;

and once the ``cpu-small`` codec's decode of 10 s of random codes (seconds of audio per second).
``speak_rtf`` = LM time per frame x 21.5 + codec time per audio second: below 1 is faster than
real time on the measured thread count. Only ratios within one run mean much on a shared machine.

The last stdout line is one JSON object: ``candidates`` (name -> params_m, train_tokens_per_s,
decode_frames_per_s, speak_rtf), ``codec`` (params_m, decode_audio_s_per_s), ``loadavg``.

    python bench/small_sizes.py [--threads 1] [--repeats 3] [--frames 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_lm import _batch, _ours, _time  # noqa: E402

FRAME_RATE = 44100 / 2048


def candidates() -> dict:
    """Name -> DualARConfig: the shipped ``cpu-small`` preset and a smaller and a larger neighbour."""
    from s2tts.models.config import DualARConfig, TransformerConfig

    base = DualARConfig.preset("cpu-small")

    def shape(layers: int, dim: int, heads: int, fast_layers: int, fast_dim: int) -> DualARConfig:
        slow = replace(base.slow, n_layer=layers, dim=dim, n_head=heads, intermediate_size=3 * dim)
        fast = TransformerConfig(fast_layers, fast_dim, 4, 2, fast_dim // 4, 3 * fast_dim, 5)
        return replace(base, slow=slow, fast=fast)

    return {
        "4x256/2x128": shape(4, 256, 4, 2, 128),
        "cpu-small 6x320/2x160": base,
        "8x384/3x192": shape(8, 384, 6, 3, 192),
    }


def _decode_step(model, frames: int):
    from s2tts.inference.decoder import Decoder
    from s2tts.inference.generate import generate_batch
    from s2tts.inference.params import SamplingParams

    cfg = model.config
    prompt = torch.zeros(cfg.num_codebooks + 1, 64, dtype=torch.long)
    prompt[0] = torch.randint(0, 256, (64,), generator=torch.Generator().manual_seed(0))
    params = SamplingParams(
        top_k=30, top_p=0.8, temperature=0.8, max_new_tokens=frames + 1, min_new_tokens=frames + 1
    )
    decoder = Decoder(model, 1, 512)

    def step() -> float:
        gen = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            cpu = time.process_time()
            generate_batch(model, [prompt], params, [gen], decoder=decoder)
        return time.process_time() - cpu

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=384)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()

    from s2tts.checkpoint import random_model
    from s2tts.inference.prepare import prepare_for_decode
    from s2tts.models.codec import Codec, CodecConfig
    from s2tts.models.dual_ar import DualARTransformer

    gen = torch.Generator().manual_seed(0)
    train_steps, decode_steps, params = {}, {}, {}
    for name, cfg in candidates().items():
        model = DualARTransformer(cfg).train()
        params[name] = sum(p.numel() for p in model.parameters()) / 1e6
        values, kinds = _batch(cfg, args.batch, args.seq, 48, gen)
        train_steps[name] = _ours(model, values, kinds, 1.0)
        decode_steps[name] = _decode_step(prepare_for_decode(random_model(cfg, seed=0)), args.frames)
    train = _time(train_steps, args.repeats)
    decode = _time(decode_steps, args.repeats)

    codec = Codec(CodecConfig.preset("cpu-small")).eval()
    sizes = codec.codebook_sizes
    frames = int(10 * FRAME_RATE)
    codes = torch.stack([torch.randint(0, s, (1, frames), generator=gen) for s in sizes], dim=1)
    with torch.inference_mode():
        codec.decode(codes)
        start = time.perf_counter()
        for _ in range(args.repeats):
            audio = codec.decode(codes)
        codec_s = (time.perf_counter() - start) / args.repeats
    audio_s = audio.shape[-1] / 44100
    codec_per_audio_s = codec_s / audio_s

    out = {}
    for name in train:
        frame_s = decode[name] / args.frames  # decode[] holds the median wall time of one run
        out[name] = {
            "params_m": round(params[name], 2),
            "train_tokens_per_s": round(args.batch * args.seq / train[name], 1),
            "decode_frames_per_s": round(1 / frame_s, 1),
            "speak_rtf": round(frame_s * FRAME_RATE + codec_per_audio_s, 3),
        }
        print(f"{name:>24}: {json.dumps(out[name])}")
    codec_fig = {
        "params_m": round(sum(p.numel() for p in codec.parameters()) / 1e6, 2),
        "decode_audio_s_per_s": round(1 / codec_per_audio_s, 1),
    }
    print(f"{'codec cpu-small':>24}: {json.dumps(codec_fig)}")
    summary = {
        "candidates": out,
        "codec": codec_fig,
        "threads": args.threads,
        "loadavg": [list(load_start), list(os.getloadavg())],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
