"""Which encoder keeps the phones? Short codec runs that differ only in the encoder, probed alike.

The small codec loses most of what a phone probe can read in its encoder (``cpu-small``: 8 channels
at the first stage, no transformer; docs/codec-training.md, "Where the phones are lost"). Each arm
is the ``cpu-small`` codec with another encoder, trained with the small recipe's codec config
(``configs/recipe/small/codec.yaml``: distillation on) shortened to ``--steps`` (a fifth of them an
unquantised warm-up, no GAN) on the same audio and seed. Then, for every arm:

* ``step_s``: seconds of one generator pass (encoder, quantizer, decoder; forward and backward) on
  a batch of 8 x 1 s, at ``--threads``, timed interleaved across arms in this process (median of
  ``--repeats``); ``step_ratio``: against the first arm;
* the phone probes of :mod:`s2tts.training.codec.phone_layers` on festival speech of sentences
  the codec never heard: ``latent`` (what the codebooks quantise), ``cb0`` (codebook 0 alone),
  ``cb_all`` (all codebooks), against the majority-phone ``baseline``.

    python bench/codec_encoder.py --audio-dir DIR [--steps 600] [--threads 1] [--arms dim8,dim16,dim16-tf2]

``DIR``: any folder of speech (e.g. the small recipe's ``codec/audio`` subset). Arms are written
under ``--out`` (default ``runs/bench-codec-encoder``); a finished arm is reused. The last line is
one JSON object: per arm ``{arm}_latent``, ``{arm}_cb0``, ``{arm}_cb_all``, ``{arm}_step_s``,
``{arm}_step_ratio``, ``{arm}_encoder_params``, plus ``baseline``, ``steps``, ``threads`` and the
load averages.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average  # noqa: E402

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / "configs" / "recipe" / "small" / "codec.yaml"

# name -> changes to cpu-small's EncoderConfig
ARMS: dict[str, dict[str, object]] = {
    "dim8": {},  # cpu-small as trained
    "dim16": {"dim": 16},
    "dim16-tf2": {"dim": 16, "transformer_layers": (0, 0, 0, 2)},
    "dim24": {"dim": 24},
    "dim32-tf2": {"dim": 32, "transformer_layers": (0, 0, 0, 2)},
    "stft256": {"kind": "stft", "dim": 256, "stft_layers": 4},  # the spectral encoder variant
    "stft384": {"kind": "stft", "dim": 384, "stft_layers": 6},
}


def arm_config(name: str):
    from s2tts.models.codec import CodecConfig

    base = CodecConfig.preset("cpu-small")
    return base.replace(encoder=replace(base.encoder, **ARMS[name]))


def train(out: Path, name: str, audio_dir: str, steps: int, threads: int) -> float:
    """Run (or reuse) one arm's training; its wall time in seconds (0 when reused)."""
    if (out / "export" / "codec.safetensors").is_file():
        return 0.0
    out.mkdir(parents=True, exist_ok=True)
    arm_config(name).save_json(out / "codec_config.json")
    args = [
        sys.executable, "-m", "s2tts.cli", "train", "codec", "--config", str(CONFIG),
        f"out_dir={out}", f"data.audio_dir={audio_dir}", f"steps={steps}", f"threads={threads}",
        f"model.config_json={out / 'codec_config.json'}",
        f"phases.unquantized_steps={max(1, steps // 5)}", f"phases.gan_start={steps + 1}",
        f"optim.schedule_g.total_steps={steps}", f"val_every={steps}", f"save_every={max(steps // 4, 1)}",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(args, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def step_seconds(names: list[str], repeats: int) -> dict[str, float]:
    """Median seconds of a generator forward + backward per arm, interleaved across arms."""
    from s2tts.models.codec import Codec
    from s2tts.training.codec.generator import add_weight_norm, autoencode
    from s2tts.training.codec.quantize import VQTrainConfig

    g = torch.Generator().manual_seed(0)
    codecs = {n: add_weight_norm(Codec(arm_config(n)).train()) for n in names}
    frame = next(iter(codecs.values())).frame_length
    audio = 0.1 * torch.randn(8, 1, 22 * frame, generator=g)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(repeats + 1):
        for n, codec in codecs.items():
            t0 = time.perf_counter()
            out = autoencode(codec, audio, VQTrainConfig(), generator=g)
            (out.audio - audio).abs().mean().backward()
            codec.zero_grad(set_to_none=True)
            if i:  # the first round warms up
                times[n].append(time.perf_counter() - t0)
    return {n: statistics.median(t) for n, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", default="dim8,dim16,dim16-tf2")
    parser.add_argument("--sentences", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-codec-encoder"))
    args = parser.parse_args()
    names = args.arms.split(",")
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {sorted(ARMS)}")
    torch.set_num_threads(args.threads)

    from s2tts.data.text_source import load_sentences
    from s2tts.models.codec.weights import load_codec
    from s2tts.training.codec.phone_layers import layer_accuracies
    from s2tts.training.codec.phone_probe import festival_labelled

    out = Path(args.out)
    result: dict[str, object] = {
        "steps": args.steps,
        "threads": args.threads,
        "loadavg_before": load_average(),
    }
    walls = {n: train(out / n, n, args.audio_dir, args.steps, args.threads) for n in names}
    steps = step_seconds(names, args.repeats)
    sentences = load_sentences("en")
    pick = np.random.default_rng(1).choice(len(sentences), args.sentences, replace=False)
    speech = festival_labelled([sentences[i] for i in pick])
    for n in names:
        codec = load_codec(out / n / "export").eval()
        acc = layer_accuracies(codec, speech, whisper=False, log=None)
        books = codec.num_codebooks
        result["baseline"] = round(float(acc["baseline"]), 4)
        result[f"{n}_latent"] = acc["latent"]
        result[f"{n}_cb0"] = acc["codebooks 1..1"]
        result[f"{n}_cb_all"] = acc[f"codebooks 1..{books}"]
        result[f"{n}_step_s"] = round(steps[n], 3)
        result[f"{n}_step_ratio"] = round(steps[n] / steps[names[0]], 2)
        result[f"{n}_encoder_params"] = sum(p.numel() for p in codec.encoder.parameters())
        result[f"{n}_train_wall_s"] = round(walls[n], 1)
        print(
            f"{n:10s} latent {acc['latent']:.3f}  cb0 {acc['codebooks 1..1']:.3f}  "
            f"all {acc[f'codebooks 1..{books}']:.3f}  (baseline {acc['baseline']:.3f})  "
            f"step {steps[n]:.2f} s ({result[f'{n}_step_ratio']}x)  encoder {result[f'{n}_encoder_params']:,}",
            flush=True,
        )
    result["loadavg_after"] = load_average()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
