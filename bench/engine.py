"""Engine benchmark: continuous batching vs one request at a time, same engine, same run.

LM: ``bench-small`` preset, codec: ``small`` preset, random weights, fp32 unless --dtype bf16; or
any checkpoint folder with its codec (``--checkpoint``, e.g. the packaged small model: the speed of
a request of a fixed number of frames does not depend on what the weights say).
For 1, 4 and 16 concurrent requests it reports time to first audio (p50/p95), real-time factor
and aggregate frames/s; the baseline is the same engine with one slot (what the reference does:
requests served one after another). It also measures the compute a first chunk needs (prefill +
first frames + first codec chunk, run directly) to compare time to first audio against.
The last line is one JSON object with every figure.

    python bench/engine.py [--threads 1] [--frames 64]
    python bench/engine.py --checkpoint src/s2tts/assets/small --threads 2 --levels 1,8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average, peak_rss_mb  # noqa: E402
from s2tts.checkpoint import init_checkpoint, load_checkpoint  # noqa: E402
from s2tts.inference.decoder import Decoder  # noqa: E402
from s2tts.inference.engine import EngineConfig, TTSEngine  # noqa: E402
from s2tts.inference.params import SamplingParams  # noqa: E402
from s2tts.inference.prepare import prepare_for_decode  # noqa: E402
from s2tts.inference.types import SynthesisRequest  # noqa: E402
from s2tts.models.codec import load_codec  # noqa: E402

TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Streaming speech synthesis should start quickly and keep pace.",
    "Continuous batching lets many requests share every decode step.",
    "A small first chunk keeps the time to first audio low.",
]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_params(frames: int) -> SamplingParams:
    """Exactly ``frames`` frames per request, the sampling settings of every benchmark."""
    return SamplingParams(
        top_k=30, top_p=0.8, temperature=0.8, max_new_tokens=frames + 1, min_new_tokens=frames + 1
    )


def timed_request(engine: TTSEngine, i: int, frames: int) -> tuple[float | None, float, int]:
    """Request i straight through ``engine.iter_stream``: (time to first audio, elapsed, samples)."""
    request = SynthesisRequest(TEXTS[i % len(TEXTS)] + f" {i}", sampling=bench_params(frames), seed=i)
    start = time.perf_counter()
    first = None
    n = 0
    for chunk in engine.iter_stream(request):
        if first is None and chunk.pcm.size:
            first = time.perf_counter() - start
        n += chunk.pcm.size
    return first, time.perf_counter() - start, n


def run_load(engine: TTSEngine, concurrency: int, frames: int, sequential: bool = False) -> dict:
    """Send ``concurrency`` requests at once (or one after another) and time them."""
    results: list[dict] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        first, elapsed, n = timed_request(engine, i, frames)
        with lock:
            results.append({"ttfa": first, "elapsed": elapsed, "samples": n})

    start = time.perf_counter()
    if sequential:
        for i in range(concurrency):
            one(i)
    else:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - start
    total_frames = sum(r["samples"] for r in results) / engine.frame_length
    audio_s = sum(r["samples"] for r in results) / engine.sample_rate
    ttfa = [r["ttfa"] for r in results if r["ttfa"] is not None]
    rtfs = [r["elapsed"] / (r["samples"] / engine.sample_rate) for r in results]
    return {
        "requests": concurrency,
        "ttfa_p50_ms": round(_quantile(ttfa, 0.5) * 1000, 1),
        "ttfa_p95_ms": round(_quantile(ttfa, 0.95) * 1000, 1),
        "rtf_mean": round(statistics.mean(rtfs), 3),
        "rtf_max": round(max(rtfs), 3),  # the slowest stream: every stream is faster than real time if < 1
        "aggregate_rtf": round(wall / audio_s, 3),
        "aggregate_frames_per_s": round(total_frames / wall, 2),
        "wall_s": round(wall, 2),
    }


def first_chunk_compute_ms(engine: TTSEngine) -> float:
    """Prefill + first_chunk_frames frames + one codec chunk, run directly without the engine
    (the same Decoder and codec streaming the engine uses)."""
    model = engine.model
    prompt = engine.builder.build(TEXTS[0] + " 0")
    decoder = Decoder(model, 1, 512)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(3):
            decoder.open(0, SamplingParams(min_new_tokens=8), torch.Generator().manual_seed(0))
            start = time.perf_counter()
            decoder.prefill(0, prompt)
            decoder.start(0)
            frames = [decoder.step(1).frame.codes[0] for _ in range(engine.config.first_chunk_frames)]
            engine.audio.decode([(engine.audio.open(), torch.stack(frames, 1))])
            best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=64, help="frames per request (64 = 3 s of audio)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--quantize", default=None, choices=["int8"], help="weight-only int8 LM")
    parser.add_argument("--compile", action="store_true", help="compiled decode frame (warmed at start)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="a checkpoint folder with its codec (default: random bench-small)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    levels = [int(x) for x in args.levels.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint is None:
            init_checkpoint(tmp, "bench-small", seed=0, codec_preset="small")
        source = args.checkpoint or tmp
        ckpt = load_checkpoint(source, dtype=args.dtype)
        prepare_for_decode(ckpt.model, quantize=args.quantize, compile=args.compile, batch=max(levels))
        codec = load_codec(source)
    results: dict[str, object] = {
        "checkpoint": str(args.checkpoint) if args.checkpoint else "random bench-small",
        "threads": args.threads,
        "frames_per_request": args.frames,
        "dtype": args.dtype,
        "quantize": args.quantize,
        "compile": args.compile,
        "load_average_start": load_average(),
    }
    common = {"max_queue": 256, "max_seq_len": 1024, "compile": args.compile}
    batched = TTSEngine(ckpt, codec, EngineConfig(max_sessions=max(levels), **common))
    serial = TTSEngine(ckpt, codec, EngineConfig(max_sessions=1, **common))
    try:
        run_load(batched, 2, 4)  # warm-up
        compute = first_chunk_compute_ms(batched)
        results["first_chunk_compute_ms"] = round(compute, 1)
        base = run_load(serial, 4, args.frames, sequential=True)
        results["one_at_a_time"] = base
        print("one at a time:", base, flush=True)
        for n in levels:
            r = run_load(batched, n, args.frames)
            r["frames_per_s_over_one_at_a_time"] = round(
                r["aggregate_frames_per_s"] / base["aggregate_frames_per_s"], 2
            )
            results[f"concurrent_{n}"] = r
            print(f"concurrent {n}:", r, flush=True)
        one = results.get("concurrent_1")
        if isinstance(one, dict):
            results["ttfa_1_over_compute"] = round(one["ttfa_p50_ms"] / compute, 2)
        results["engine_metrics"] = batched.metrics()
        results["peak_rss_mb"] = round(peak_rss_mb(), 1)
        results["load_average_end"] = load_average()
    finally:
        batched.close()
        serial.close()
    if torch.cuda.is_available():
        results["cuda_s2pro"] = cuda_s2pro(args.frames)
    print(json.dumps(results))


def cuda_s2pro(frames: int) -> dict:
    """The released shapes (LM and codec) with random weights, bf16 and int8, compiled decode frame
    (CUDA graphs), on CUDA: RTF and time to first audio at 1 and 8 concurrent requests (the paper:
    RTF 0.195, ~100 ms on one H200)."""
    from dataclasses import replace

    from s2tts.checkpoint import S2Checkpoint, random_model
    from s2tts.models.codec import Codec, CodecConfig
    from s2tts.models.config import PRESETS
    from s2tts.text.tokenizer import make_byte_tokenizer

    tok = make_byte_tokenizer(4096)
    config = replace(
        PRESETS["s2-pro"],
        semantic_begin_id=tok.semantic_begin_id,
        semantic_end_id=tok.semantic_end_id,
        eos_token_id=tok.im_end_id,
        pad_token_id=tok.pad_id,
    )
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("s2-codec")).to(device="cuda", dtype=torch.bfloat16).eval()
    out: dict[str, object] = {"device": torch.cuda.get_device_name()}
    for quantize in (None, "int8"):
        model = prepare_for_decode(
            random_model(config, seed=0, dtype="bfloat16", device="cuda"), quantize=quantize, compile=True
        )
        ckpt = S2Checkpoint(model=model, tokenizer=tok, directory=Path("."))
        name = quantize or "bf16"
        start = time.perf_counter()
        engine = TTSEngine(ckpt, codec, EngineConfig(max_sessions=8, max_seq_len=2048, compile=True))
        out[f"{name}_warmup_s"] = round(time.perf_counter() - start, 1)
        try:
            run_load(engine, 2, 4)
            for n in (1, 8):
                out[f"{name}_concurrent_{n}"] = run_load(engine, n, frames)
                print(f"cuda s2-pro {name} concurrent {n}:", out[f"{name}_concurrent_{n}"], flush=True)
            out[f"{name}_peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        finally:
            engine.close()
        del engine, ckpt, model
        torch.cuda.empty_cache()
    return out


if __name__ == "__main__":
    main()
