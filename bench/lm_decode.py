"""Dual-AR decode benchmark on the ``bench-small`` preset with random weights.

Reports prefill ms and decode frames/s at batch 1 and 8, fp32 and bf16, eager and compiled, peak
memory per configuration (each runs in its own process), and the ratio to the memory-bandwidth
floor: at batch 1 every frame must read the slow weights once and the fast weights nine times.
The last line is one JSON object with every figure.

    python bench/lm_decode.py [--threads 1] [--frames 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import copy_bandwidth_gbs, peak_rss_mb, run_child  # noqa: E402

# The reference (fish-speech) on this machine class, 1 thread, same preset (from the issue).
REFERENCE_FPS = {"fp32_eager": 12.7, "bf16_compiled": 32.0}
PROMPT_LEN = 69


def _model(dtype: torch.dtype, device: str, preset: str = "bench-small"):
    from s2tts.checkpoint import random_model
    from s2tts.inference.prepare import prepare_for_decode
    from s2tts.models.config import DualARConfig

    return prepare_for_decode(random_model(DualARConfig.preset(preset), seed=0, dtype=dtype, device=device))


def _prompt(model, seed: int, device: str) -> torch.Tensor:
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.zeros(cfg.num_codebooks + 1, PROMPT_LEN, dtype=torch.long)
    prompt[0] = torch.randint(0, cfg.semantic_begin_id - 20, (PROMPT_LEN,), generator=gen)
    return prompt.to(device)


def child(args: argparse.Namespace) -> dict:
    from s2tts.inference.compile import compile_fast_step
    from s2tts.inference.steps import prefill

    from s2tts.inference.generate import generate_batch
    from s2tts.inference.params import SamplingParams

    torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    model = _model(dtype, args.device, args.preset)
    frames = args.frames
    params = SamplingParams(
        top_k=30, top_p=0.8, temperature=0.8, max_new_tokens=frames + 1, min_new_tokens=frames + 1
    )
    fast_step = compile_fast_step(model) if args.mode == "compiled" else None
    prompts = [_prompt(model, s, args.device) for s in range(args.batch)]
    gens = [torch.Generator(device=args.device).manual_seed(s) for s in range(args.batch)]

    # Prefill latency of one 69-token prompt.
    slow_cache, _ = model.allocate_caches(1, 512)
    with torch.inference_mode():
        prefill(model, prompts[0], slow_cache, 0)
        _sync(args.device)
        start = time.perf_counter()
        for _ in range(3):
            prefill(model, prompts[0], slow_cache, 0)
        _sync(args.device)
        prefill_ms = (time.perf_counter() - start) / 3 * 1000

    # Warm-up (compiles the fast step), then the timed run.
    warm = SamplingParams(top_k=30, top_p=0.8, temperature=0.8, max_new_tokens=4, min_new_tokens=4)
    generate_batch(model, prompts, warm, gens, fast_step=fast_step)
    start = time.perf_counter()
    out = generate_batch(model, prompts, params, gens, fast_step=fast_step)
    elapsed = time.perf_counter() - start
    produced = sum(o.shape[1] for o in out)
    decode_time = max(elapsed - args.batch * prefill_ms / 1000, 1e-9)
    return {
        "prefill_ms": round(prefill_ms, 2),
        "frames_per_s": round(produced / decode_time, 2),
        "frames": produced,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **(
            {"peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}
            if args.device == "cuda"
            else {}
        ),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def weight_bytes_per_frame(dtype_bytes: int) -> int:
    model = _model(torch.float32, "cpu")
    slow = sum(p.numel() for n, p in model.slow.named_parameters() if "embeddings" not in n)
    slow += model.config.num_semantic + 1  # rows of the constrained head (x dim below)
    head = (model.config.num_semantic + 1) * model.config.slow.dim
    slow = slow - (model.config.num_semantic + 1) + head
    fast = sum(p.numel() for n, p in model.fast.named_parameters() if n != "embeddings.weight")
    return (slow + 9 * fast) * dtype_bytes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="eager only, 40 frames (smoke run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="eager", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="bench-small", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    torch.set_num_threads(args.threads)
    frames = 40 if args.quick else args.frames
    modes = ["eager"] if args.quick else ["eager", "compiled"]
    results: dict[str, dict] = {}
    for dtype in ("fp32", "bf16"):
        for mode in modes:
            for batch in (1, 8):
                key = f"{dtype}_{mode}_b{batch}"
                child_args = ["--threads", str(args.threads), "--frames", str(frames), "--device", args.device,
                              "--dtype", dtype, "--mode", mode, "--batch", str(batch)]  # fmt: skip
                results[key] = run_child(__file__, child_args)
                print(f"{key:22s} {results[key]}", flush=True)

    bandwidth = copy_bandwidth_gbs()
    summary: dict[str, object] = {
        "threads": args.threads,
        "frames": frames,
        "copy_bandwidth_gbs": round(bandwidth, 2),
    }
    for dtype, nbytes in (("fp32", 4), ("bf16", 2)):
        floor_fps = bandwidth * 1e9 / weight_bytes_per_frame(nbytes)
        summary[f"{dtype}_bandwidth_floor_fps"] = round(floor_fps, 2)
        for mode in modes:
            b1 = results[f"{dtype}_{mode}_b1"].get("frames_per_s")
            b8 = results[f"{dtype}_{mode}_b8"].get("frames_per_s")
            if b1:
                summary[f"{dtype}_{mode}_b1_over_floor"] = round(b1 / floor_fps, 3)
                if b8:
                    summary[f"{dtype}_{mode}_b8_over_b1"] = round(b8 / b1, 2)
    for key, ref in REFERENCE_FPS.items():
        ours = results.get(f"{key}_b1", {}).get("frames_per_s")
        if ours:
            summary[f"{key}_b1_over_reference"] = round(ours / ref, 2)
    bf16 = results["bf16_eager_b1"].get("frames_per_s")
    fp32 = results["fp32_eager_b1"].get("frames_per_s")
    if bf16 and fp32:
        summary["bf16_eager_over_fp32_eager_b1"] = round(bf16 / fp32, 2)
    best_b1 = max((r.get("frames_per_s") or 0) for k, r in results.items() if k.endswith("_b1"))
    summary["best_b1_frames_per_s"] = best_b1
    summary["best_b1_over_reference_fp32_eager"] = round(best_b1 / REFERENCE_FPS["fp32_eager"], 2)
    if torch.cuda.is_available() and not args.quick:
        # The released shape with random weights, bf16, eager and compiled, batch 1 and 8.
        for mode in ("eager", "compiled"):
            for batch in (1, 8):
                key = f"cuda_s2pro_bf16_{mode}_b{batch}"
                child_args = ["--frames", str(frames), "--device", "cuda", "--dtype", "bf16", "--mode", mode,
                              "--batch", str(batch), "--preset", "s2-pro"]  # fmt: skip
                results[key] = run_child(__file__, child_args, timeout=1800)
                print(f"{key:30s} {results[key]}", flush=True)
    print(json.dumps({"results": results, "summary": summary}))


if __name__ == "__main__":
    main()
