"""Evaluation benchmark: scoring throughput per scorer, and scoring vs generation speed.

RL scores every rollout, so the reward scorers must keep up with generation. This measures, on
real festival speech (``--clips`` clips of about 4 s, two voices), how many seconds of audio each
scorer gets through per second of wall time:

* ``asr_base`` (Whisper base, beam 5, batched by ``--asr-batch``), ``asr_base_single`` (the same,
  one clip per call: what batching buys), ``asr_tiny_en`` (tiny.en, beam 5, batched);
* ``speaker`` (resemblyzer, one batch), ``dnsmos``, ``distillmos``, ``acoustics`` (every tag
  measurement of s2tts.eval.instruction);
* ``reward_set``: WER (base) + similarity + DNSMOS + DistillMOS run one after another on the same
  clips, i.e. what one reward worker does per rollout (``reward_set_tiny_en`` with tiny.en,
  ``reward_set_no_dnsmos`` without DNSMOS, the slowest scorer);

and the generation speed of the small model (``bench-small`` LM + ``small`` codec, random
weights, the engine with ``--batch`` requests in flight), in seconds of audio per second. The key
figure is ``scoring_vs_generation`` = reward_set speed / generation speed: above 1, one scoring
process keeps up with one generating process. Scorer and generation rounds alternate
(``--rounds``) and medians are reported, so both see the same machine load; ``os.getloadavg()`` is
recorded at start and end. The last line is one JSON object with every figure.

    python bench/eval.py [--threads 1] [--clips 8] [--rounds 2] [--batch 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from s2tts.checkpoint import init_checkpoint
from s2tts.eval import acoustics
from s2tts.eval.asr import WhisperASR
from s2tts.eval.audio import load_16k
from s2tts.eval.instruction import RULES, measure
from s2tts.inference.engine import EngineConfig
from s2tts.inference.factory import load_engine
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest
from s2tts.scoring.quality import DNSMOS, DistillMOS
from s2tts.scoring.speaker import SpeakerEncoder

SENTENCES = [
    "We will meet again at the station before the train leaves.",
    "Please open the window because the room is getting very warm.",
    "I would like a cup of coffee with milk and no sugar please.",
    "He forgot his keys at home and had to call his brother.",
]
VOICES = ("voice_kal_diphone", "voice_cmu_us_slt_arctic_hts")
FRAMES = 86  # ~4 s of audio per generated request (2048 samples per frame at 44.1 kHz)


def make_clips(n: int, folder: Path) -> list[np.ndarray]:
    clips = []
    for i in range(n):
        path = folder / f"c{i}.wav"
        subprocess.run(
            ["text2wave", "-eval", f"({VOICES[i % 2]})", "-o", str(path)],
            input=SENTENCES[i % len(SENTENCES)].encode(),
            check=True,
            capture_output=True,
        )
        clips.append(load_16k(path))
    return clips


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--asr-batch", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4, help="generation requests in flight")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    clips = make_clips(args.clips, tmp)
    audio_s = sum(len(c) for c in clips) / acoustics.SR
    refs = clips[1:] + clips[:1]
    words = [len(SENTENCES[i % len(SENTENCES)].split()) for i in range(len(clips))]

    loads: dict[str, float] = {}
    start = time.perf_counter()
    base = WhisperASR("base", threads=args.threads, batch_size=args.asr_batch)
    loads["asr_base"] = time.perf_counter() - start
    start = time.perf_counter()
    tiny = WhisperASR("tiny.en", threads=args.threads, batch_size=args.asr_batch)
    loads["asr_tiny_en"] = time.perf_counter() - start
    start = time.perf_counter()
    speaker = SpeakerEncoder()
    loads["speaker"] = time.perf_counter() - start
    start = time.perf_counter()
    dnsmos = DNSMOS(threads=args.threads)
    loads["dnsmos"] = time.perf_counter() - start
    start = time.perf_counter()
    distill = DistillMOS()
    loads["distillmos"] = time.perf_counter() - start

    def acoustic_all() -> None:
        for c, w in zip(clips, words, strict=True):
            for name in {r.measure for r in RULES.values()}:
                measure(name, c, w)

    def reward_set(asr: WhisperASR, with_dnsmos: bool = True) -> None:
        asr.transcribe(clips)
        speaker.similarity(clips, refs)
        if with_dnsmos:
            dnsmos.score(clips)
        distill.score(clips)

    scorers: dict[str, Callable[[], object]] = {
        "asr_base": lambda: base.transcribe(clips),
        "asr_base_single": lambda: [base.transcribe([c]) for c in clips],
        "asr_tiny_en": lambda: tiny.transcribe(clips),
        "speaker": lambda: speaker.similarity(clips, refs),
        "dnsmos": lambda: dnsmos.score(clips),
        "distillmos": lambda: distill.score(clips),
        "acoustics": acoustic_all,
        "reward_set": lambda: reward_set(base),
        "reward_set_tiny_en": lambda: reward_set(tiny),
        "reward_set_no_dnsmos": lambda: reward_set(base, with_dnsmos=False),
    }
    for name in ("asr_base", "asr_tiny_en", "speaker", "dnsmos", "distillmos", "acoustics"):
        scorers[name]()  # warm-up: first calls compile kernels and fill caches

    ckpt = init_checkpoint(tmp / "small", "bench-small", seed=0, codec_preset="small")
    engine = load_engine(ckpt, config=EngineConfig(max_sessions=args.batch))
    sampling = SamplingParams(max_new_tokens=FRAMES + 1, min_new_tokens=FRAMES + 1)

    def generate() -> float:
        from concurrent.futures import ThreadPoolExecutor

        reqs = [SynthesisRequest(SENTENCES[i % 4], sampling=sampling, seed=i) for i in range(args.batch)]
        with ThreadPoolExecutor(args.batch) as pool:
            audio = list(pool.map(engine.synthesize, reqs))
        return sum(len(a) for a in audio) / engine.sample_rate

    generate()  # warm-up
    print(f"models loaded {loads}, {audio_s:.1f} s of audio", file=sys.stderr, flush=True)
    times: dict[str, list[float]] = {k: [] for k in scorers}
    gen_speed: list[float] = []
    for r in range(args.rounds):
        start = time.perf_counter()
        seconds = generate()
        gen_speed.append(seconds / (time.perf_counter() - start))
        print(f"round {r}: generation {gen_speed[-1]:.2f} s/s", file=sys.stderr, flush=True)
        for name, fn in scorers.items():
            times[name].append(timed(fn))
            print(f"round {r}: {name} {audio_s / times[name][-1]:.2f} s/s", file=sys.stderr, flush=True)
    engine.close()
    speed = {name: audio_s / statistics.median(t) for name, t in times.items()}
    generation = statistics.median(gen_speed)
    result = {
        "scoring_vs_generation": speed["reward_set"] / generation,
        "scoring_vs_generation_tiny_en": speed["reward_set_tiny_en"] / generation,
        "scoring_vs_generation_no_dnsmos": speed["reward_set_no_dnsmos"] / generation,
        "audio_s_per_s": speed,
        "generation_audio_s_per_s": generation,
        "asr_batching_gain": speed["asr_base"] / speed["asr_base_single"],
        "load_s": loads,
        "clips": len(clips),
        "audio_s": audio_s,
        "threads": args.threads,
        "generation_batch": args.batch,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
    }
    for name, value in speed.items():
        print(f"{name:>16}: {value:7.2f} s of audio per s", file=sys.stderr)
    print(
        f"{'generation':>16}: {generation:7.2f} s of audio per s (bench-small, random weights)",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
