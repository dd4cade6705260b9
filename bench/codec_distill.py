"""Does semantic distillation make codebook 0 phonetic? Two codec runs, same budget, with and without.

Both runs start from the same seed on the same audio with the same schedule
(``configs/train/codec-cpu-small.yaml`` shortened by ``--steps``); one adds the distillation loss
toward the Whisper base encoder (``distill.enabled=true``). Each exported codec is then probed on
festival speech whose phone timing festival itself reports
(:mod:`s2tts.training.codec.phone_probe`): held-out accuracy of a lookup probe from codebook-0
codes to the phone at each frame's centre, against the always-the-commonest-phone baseline, and
the normalised mutual information I(code; phone) / H(phone). Residual codebook 1 is probed too, as
a control (distillation targets codebook 0 only).

    python bench/codec_distill.py --audio-dir DIR [--steps 600] [--threads 1] [--sentences 60]

``DIR``: any folder of speech (e.g. the small recipe's ``codec/audio`` subset of the synthetic
corpus). The runs are written under ``--out`` (default ``runs/bench-codec-distill``); a finished
run is reused. The last line is one JSON object (keys ``cb0_accuracy_distill``,
``cb0_accuracy_plain``, ``cb0_nmi_distill``, ``cb0_nmi_plain``, ``baseline``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average  # noqa: E402

ROOT = Path(__file__).parents[1]


def train(out: Path, audio_dir: str, steps: int, threads: int, distill: bool) -> float:
    """Run (or reuse) one codec training; returns its wall time in seconds (0 when reused)."""
    if (out / "export" / "codec.safetensors").is_file():
        return 0.0
    warm = max(1, steps // 5)
    args = [
        sys.executable, "-m", "s2tts.cli", "train", "codec",
        "--config", str(ROOT / "configs/train/codec-cpu-small.yaml"),
        f"out_dir={out}", f"data.audio_dir={audio_dir}", f"steps={steps}", f"threads={threads}",
        f"phases.unquantized_steps={warm}", f"phases.gan_start={steps + 1}",
        f"optim.schedule_g.total_steps={steps}", f"val_every={steps}", f"save_every={max(steps // 4, 1)}",
        f"distill.enabled={'true' if distill else 'false'}",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(args, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audio-dir", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=60)
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-codec-distill"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from s2tts.data.text_source import load_sentences
    from s2tts.models.codec.weights import load_codec
    from s2tts.training.codec.phone_probe import festival_labelled, probe_codec

    out = Path(args.out)
    load_before = load_average()
    walls = {
        name: train(out / name, args.audio_dir, args.steps, args.threads, name == "distill")
        for name in ("plain", "distill")
    }
    sentences = load_sentences("en")
    pick = np.random.default_rng(1).choice(len(sentences), args.sentences, replace=False)
    speech = festival_labelled([sentences[i] for i in pick])
    result: dict[str, float | int | list[float]] = {"steps": args.steps, "threads": args.threads}
    for name in ("plain", "distill"):
        codec = load_codec(out / name / "export").eval()
        for cb in (0, 1):
            probe = probe_codec(codec, speech, cb)
            print(f"{name:8s} codebook {cb}: accuracy {probe['accuracy']:.3f} "
                  f"(baseline {probe['baseline']:.3f}), NMI {probe['nmi']:.3f}, {probe['frames']:.0f} frames")  # fmt: skip
            result[f"cb{cb}_accuracy_{name}"] = round(probe["accuracy"], 4)
            result[f"cb{cb}_nmi_{name}"] = round(probe["nmi"], 4)
            result["baseline"] = round(probe["baseline"], 4)
        result[f"train_wall_s_{name}"] = round(walls[name], 1)
    result["loadavg_before"] = load_before
    result["loadavg_after"] = load_average()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
