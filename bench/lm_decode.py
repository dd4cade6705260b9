"""Dual-AR decode benchmark on the ``bench-small`` preset with random weights.

Every configuration runs the one decode path (``generate_batch`` -> ``Decoder`` ->
``decode_frame``) in its own process (clean memory peak): fp32 / bf16 / int8 weights, eager or
compiled (``torch.compile`` of the whole frame, warmed up before timing), batch 1 and 8. Eager
configurations run ``--rounds`` times, interleaved, and report their best round (the machine may
be shared); compiled ones run once (compiling is the slow part). Rates are frames per second of
the decoding process's own CPU time (``--rate wall`` for wall clock), so a loaded machine that
takes the core away from the run does not count against it. The bandwidth floor comes from a
1-thread fp32 matrix-vector stream: at batch 1 a frame reads the slow weights once and the fast
weights nine times, so ``floor fps = read GB/s / bytes per frame``. The load average is recorded.
The last line is one JSON object.

With ``--baseline DIR`` (a checkout of another revision, e.g. ``git worktree add /tmp/base main``)
every configuration also runs on that tree's code, alternately with this one, so that a change is
measured against its baseline under the same load.

With ``--reference-dir DIR`` (a checkout of the reference implementation, fish-speech) the
reference's own decode runs too, built with the same shape and prompt (``bench/_reference.py``):
fp32 and bf16, eager and compiled, batch 1, each right after our matching configuration, so that
the summary's ``compiled_best_over_reference`` compares two figures of the same run. Without it,
that ratio falls back to a constant measured on an earlier day, and the summary says so
(``reference_source``).

    python bench/lm_decode.py [--threads 1] [--frames 150] [--rounds 2] [--quick] [--baseline DIR]
        [--reference-dir DIR] [--only NAMES] [--skip NAMES] [--preset bench-small]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average, matvec_bandwidth_gbs, peak_rss_mb, run_child  # noqa: E402
from _reference import check_reference_dir  # noqa: E402

# Fallback when no --reference-dir is given: the reference (fish-speech) on this machine, 1
# thread, same preset, its whole step compiled by inductor, bf16 (frames/s, wall clock), measured
# on an earlier day side by side with our previous decode loop -- not comparable to a new run's
# figures beyond a rough check; the summary labels it ``reference_source``.
REFERENCE_COMPILED_BF16_FPS = (10.1, 10.4)
PROMPT_LEN = 69
CACHE_LEN = 256  # prompt + frames stay below one attention bucket
# (name, dtype, quantize, mode, batch); the eager ones are repeated and interleaved.
CONFIGS = [
    ("fp32_eager_b1", "fp32", None, "eager", 1),
    ("int8_eager_b1", "fp32", "int8", "eager", 1),
    ("bf16_eager_b1", "bf16", None, "eager", 1),
    ("fp32_eager_b8", "fp32", None, "eager", 8),
    ("int8_eager_b8", "fp32", "int8", "eager", 8),
    ("fp32_compiled_b1", "fp32", None, "compiled", 1),
    ("bf16_compiled_b1", "bf16", None, "compiled", 1),
    ("int8_compiled_b1", "fp32", "int8", "compiled", 1),
]
# The reference's decode (with --reference-dir), each run right after our configuration of the
# same weights and mode: (name, our counterpart, dtype, mode); batch 1 (its loop decodes one row).
REFERENCE_CONFIGS = [
    ("reference_eager_fp32_b1", "fp32_eager_b1", "fp32", "eager"),
    ("reference_eager_bf16_b1", "bf16_eager_b1", "bf16", "eager"),
    ("reference_compiled_fp32_b1", "fp32_compiled_b1", "fp32", "compiled"),
    ("reference_compiled_bf16_b1", "bf16_compiled_b1", "bf16", "compiled"),
]


def _model(
    dtype: str,
    quantize: str | None,
    device: str,
    preset: str = "bench-small",
    compile: bool = False,
    batch: int = 1,
):
    from s2tts.checkpoint import random_model
    from s2tts.inference.prepare import prepare_for_decode
    from s2tts.models.config import DualARConfig

    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    model = random_model(DualARConfig.preset(preset), seed=0, dtype=torch_dtype, device=device)
    return prepare_for_decode(model, quantize=quantize, compile=compile, batch=batch)


def prompt_for(cfg, seed: int, device: str) -> torch.Tensor:
    """The benchmark prompt of row ``seed``: (num_codebooks + 1, PROMPT_LEN) long, random text ids."""
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.zeros(cfg.num_codebooks + 1, PROMPT_LEN, dtype=torch.long)
    prompt[0] = torch.randint(0, cfg.semantic_begin_id - 20, (PROMPT_LEN,), generator=gen)
    return prompt.to(device)


def child(args: argparse.Namespace) -> dict:
    from s2tts.inference.decoder import Decoder
    from s2tts.inference.generate import generate_batch
    from s2tts.inference.params import SamplingParams

    torch.set_num_threads(args.threads)
    model = _model(
        args.dtype, args.quantize, args.device, args.preset, compile=args.mode == "compiled", batch=args.batch
    )
    frames = args.frames
    params = SamplingParams(
        top_k=30, top_p=0.8, temperature=0.8, max_new_tokens=frames + 1, min_new_tokens=frames + 1
    )
    prompts = [prompt_for(model.config, s, args.device) for s in range(args.batch)]
    gens = [torch.Generator(device=args.device).manual_seed(s) for s in range(args.batch)]
    decoder = Decoder(model, args.batch, CACHE_LEN, compile=args.mode == "compiled")

    # Prefill latency of one 69-token prompt.
    with torch.inference_mode():
        decoder.prefill(0, prompts[0])
        _sync(args.device)
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(3):
            decoder.prefill(0, prompts[0])
        _sync(args.device)
        prefill_ms = (time.perf_counter() - start) / 3 * 1000
        prefill_cpu = (time.process_time() - cpu_start) / 3

    # Warm-up (compiles the frame), then the timed run on the same decoder.
    start = time.perf_counter()
    warm = SamplingParams(top_k=30, top_p=0.8, temperature=0.8, max_new_tokens=4, min_new_tokens=4)
    generate_batch(model, prompts, warm, gens, decoder=decoder)
    warmup_s = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    out = generate_batch(model, prompts, params, gens, decoder=decoder)
    _sync(args.device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    produced = sum(o.shape[1] for o in out)
    decode_time = max(elapsed - args.batch * prefill_ms / 1000, 1e-9)
    return {
        "prefill_ms": round(prefill_ms, 2),
        "frames_per_s": round(produced / decode_time, 2),
        # Frames per second of this process's own CPU time: what the run would reach alone on its
        # core, free of the time other processes took the core (the machine may be shared).
        "cpu_frames_per_s": round(produced / max(cpu - args.batch * prefill_cpu, 1e-9), 2),
        "frames": produced,
        "warmup_s": round(warmup_s, 1),
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


def weight_bytes_per_frame(dtype_bytes: float, preset: str = "bench-small") -> int:
    """Bytes a batch-1 frame reads: slow blocks + the constrained head once, fast weights 9x."""
    model = _model("fp32", None, "cpu", preset)
    cfg = model.config
    slow = sum(p.numel() for n, p in model.slow.named_parameters() if "embeddings" not in n)
    slow += (cfg.num_semantic + 1) * cfg.slow.dim  # rows of the constrained head
    fast = sum(p.numel() for n, p in model.fast.named_parameters() if n != "embeddings.weight")
    return int((slow + (cfg.num_codebooks - 1) * fast) * dtype_bytes)


def _child_args(
    args: argparse.Namespace, dtype: str, quantize: str | None, mode: str, batch: int
) -> list[str]:
    out = ["--threads", str(args.threads), "--frames", str(args.frames), "--device", args.device,
           "--dtype", dtype, "--mode", mode, "--batch", str(batch), "--preset", args.preset]  # fmt: skip
    return out + (["--quantize", quantize] if quantize else [])


def _reference_child_args(args: argparse.Namespace, dtype: str, mode: str) -> list[str]:
    return ["--reference-dir", args.reference_dir, "--threads", str(args.threads),
            "--frames", str(args.frames), "--device", args.device, "--dtype", dtype, "--mode", mode,
            "--backend", args.reference_backend, "--preset", args.preset,
            "--cache-len", str(CACHE_LEN)]  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats of the eager runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--rate",
        default="cpu",
        choices=["cpu", "wall"],
        help="frames per CPU second (default) or wall second",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="40 frames, one round, eager configurations only (unless --only names others)",
    )
    parser.add_argument("--skip", default="", help="comma-separated configuration names to leave out")
    parser.add_argument(
        "--only", default="", help="comma-separated configuration names to run (default: all)"
    )
    parser.add_argument(
        "--preset",
        default="bench-small",
        help="model shape of both sides (bench-small; tiny for a quick check that everything runs)",
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="a checkout of another revision (its src/ and bench/): the configurations also run "
        "there, alternately with this tree, and the summary gives this/baseline ratios",
    )
    parser.add_argument(
        "--baseline-configs",
        default="",
        help="comma-separated configurations the baseline runs (default: all)",
    )
    parser.add_argument(
        "--reference-dir",
        metavar="DIR",
        help="a checkout of the reference implementation (fish-speech): its decode runs in the same "
        "run, same shape and prompt, fp32/bf16 eager/compiled at batch 1 (bench/_reference.py)",
    )
    parser.add_argument(
        "--reference-backend",
        default="inductor",
        help="torch.compile backend of the reference's compiled frame (inductor; its own "
        "init_model picks aot_eager where CUDA is absent)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--quantize", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="eager", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    return parser


def _plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[tuple]:
    """The configurations to run, in order: (name, dtype, quantize, mode, batch, side) with side
    "ours" or "reference"; each reference one right after its counterpart."""
    plan: list[tuple] = []
    for name, dtype, quantize, mode, batch in CONFIGS:
        plan.append((name, dtype, quantize, mode, batch, "ours"))
        for ref_name, ours, ref_dtype, ref_mode in REFERENCE_CONFIGS:
            if ours == name:
                plan.append((ref_name, ref_dtype, None, ref_mode, 1, "reference"))
    skip = set(filter(None, args.skip.split(",")))
    only = set(filter(None, args.only.split(",")))
    unknown = (skip | only) - {entry[0] for entry in plan}
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    chosen = []
    for entry in plan:
        name, mode, side = entry[0], entry[3], entry[5]
        if name in skip or (only and name not in only):
            continue
        if side == "reference" and not args.reference_dir:
            if name in only:
                parser.error(f"{name} needs --reference-dir")
            continue
        if args.quick and mode == "compiled" and not only:
            continue
        chosen.append(entry)
    return chosen


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    torch.set_num_threads(args.threads)
    if args.quick:
        args.frames, args.rounds = 40, 1
    if args.frames + PROMPT_LEN >= CACHE_LEN:
        parser.error(f"--frames must stay below {CACHE_LEN - PROMPT_LEN}")
    if args.reference_dir and (problem := check_reference_dir(args.reference_dir)):
        parser.error(problem)
    plan = _plan(args, parser)
    load_start = load_average()
    floor_gbs = [matvec_bandwidth_gbs(threads=args.threads)]
    trees: list[tuple[str, str, str | None]] = [("current", __file__, None)]
    if args.baseline:
        base = Path(args.baseline)
        trees.append(("baseline", str(base / "bench" / "lm_decode.py"), str(base)))
    base_only = set(filter(None, args.baseline_configs.split(",")))
    reference_script = str(Path(__file__).parent / "_reference.py")
    runs: dict[tuple[str, str], list[dict]] = {}
    for rnd in range(args.rounds):
        for name, dtype, quantize, mode, batch, side in plan:
            if mode == "compiled" and rnd > 0:
                continue
            if side == "reference":
                jobs = [("reference", reference_script, _reference_child_args(args, dtype, mode))]
            else:
                child_args = _child_args(args, dtype, quantize, mode, batch)
                jobs = [(tree, script, child_args) for tree, script, _ in trees]
            for tree, script, child_args in jobs:
                if tree == "baseline" and base_only and name not in base_only:
                    continue
                source = args.baseline if tree == "baseline" else None
                result = run_child(script, child_args, timeout=3600, source=source)
                result["load"] = load_average()
                runs.setdefault((tree, name), []).append(result)
                print(f"{tree:9s} {name:26s} round {rnd}: {result}", flush=True)
        floor_gbs.append(matvec_bandwidth_gbs(threads=args.threads))

    # The rate to compare is per CPU second of the decoding process (--rate wall for wall clock).
    key = "cpu_frames_per_s" if args.rate == "cpu" else "frames_per_s"
    best_runs = {tn: max(rs, key=lambda r: r.get(key) or 0) for tn, rs in runs.items()}
    by_tree = {
        tree: {name: r for (t, name), r in best_runs.items() if t == tree}
        for tree in ("current", "baseline", "reference")
    }
    summary = _summary(args, key, by_tree, floor_gbs, load_start)
    print(
        json.dumps(
            {
                "results": by_tree["current"],
                "baseline_results": by_tree["baseline"],
                "reference_results": by_tree["reference"],
                "summary": summary,
            }
        )
    )


def _summary(
    args: argparse.Namespace,
    key: str,
    by_tree: dict[str, dict[str, dict]],
    floor_gbs: list[float],
    load_start: list[float],
) -> dict[str, object]:
    fps = {name: r.get(key) for name, r in by_tree["current"].items()}
    baseline_fps = {name: r.get(key) for name, r in by_tree["baseline"].items()}
    bandwidth = max(floor_gbs)
    fp32_floor = bandwidth * 1e9 / weight_bytes_per_frame(4, args.preset)
    summary: dict[str, object] = {
        "preset": args.preset,
        "threads": args.threads,
        "frames": args.frames,
        "rate": key,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "matvec_read_gbs": [round(x, 2) for x in floor_gbs],
        "fp32_floor_fps": round(fp32_floor, 2),
        "fp32_eager_b1_fps": fps.get("fp32_eager_b1"),
        "int8_b1_fps": max((fps.get(k) or 0) for k in ("int8_eager_b1", "int8_compiled_b1")) or None,
    }
    compiled = [fps.get(k) or 0 for k in fps if "compiled_b1" in k]
    summary["compiled_best_b1_fps"] = max(compiled) if compiled and max(compiled) else None
    for name in ("fp32_eager_b1", "fp32_compiled_b1"):
        if fps.get(name):
            summary[f"{name}_over_floor"] = round(fps[name] / fp32_floor, 3)  # type: ignore[operator]
    if fps.get("fp32_eager_b1"):
        base = fps["fp32_eager_b1"]
        if summary["int8_b1_fps"]:
            summary["int8_b1_over_fp32_eager"] = round(summary["int8_b1_fps"] / base, 2)  # type: ignore[operator]
    summary.update(_reference_summary(args, key, fps, by_tree["reference"], summary["compiled_best_b1_fps"]))
    for dtype in ("fp32", "int8"):
        b1, b8 = fps.get(f"{dtype}_eager_b1"), fps.get(f"{dtype}_eager_b8")
        if b1 and b8:
            summary[f"{dtype}_eager_b8_over_b1"] = round(b8 / b1, 2)
    summary.update({f"{k}_fps": v for k, v in fps.items() if f"{k}_fps" not in summary})
    if baseline_fps:
        summary["baseline_fps"] = baseline_fps
        summary["current_over_baseline"] = {
            k: round(fps[k] / v, 2) for k, v in baseline_fps.items() if v and fps.get(k)
        }
        if baseline_fps.get("fp32_eager_b1"):
            summary["baseline_fp32_eager_b1_over_floor"] = round(
                baseline_fps["fp32_eager_b1"] / fp32_floor, 3
            )
    return summary


def _reference_summary(
    args: argparse.Namespace,
    key: str,
    fps: dict[str, float | None],
    reference_results: dict[str, dict],
    compiled_best: object,
) -> dict[str, object]:
    """The reference's rates and our rates over them: from this run with --reference-dir, else
    from the constant of an earlier day (labelled so)."""
    if not args.reference_dir:
        out: dict[str, object] = {
            "reference_source": "constant from an earlier day (bf16 compiled, wall clock; "
            "pass --reference-dir for a same-run figure)",
            "reference_compiled_bf16_b1_fps": list(REFERENCE_COMPILED_BF16_FPS),
        }
        if compiled_best:
            low, high = REFERENCE_COMPILED_BF16_FPS
            out["compiled_best_over_reference"] = [
                round(compiled_best / high, 2),  # type: ignore[operator]
                round(compiled_best / low, 2),  # type: ignore[operator]
            ]
        return out
    ref_fps = {name: r.get(key) for name, r in reference_results.items()}
    out = {
        "reference_source": "same run",
        "reference_dir": str(Path(args.reference_dir).resolve()),
        "reference_backend": args.reference_backend,
        "reference_cache_len": CACHE_LEN,
    }
    out.update({f"{name}_fps": ref_fps.get(name) for name, *_ in REFERENCE_CONFIGS})
    ref_compiled = [v for name, v in ref_fps.items() if "compiled" in name and v]
    if ref_compiled:
        out["reference_compiled_best_b1_fps"] = max(ref_compiled)
        if compiled_best:
            out["compiled_best_over_reference"] = round(compiled_best / max(ref_compiled), 2)  # type: ignore[operator]
    # Same weights and mode on both sides.
    for name, ours, *_ in REFERENCE_CONFIGS:
        if fps.get(ours) and ref_fps.get(name):
            out[f"{ours}_over_reference"] = round(fps[ours] / ref_fps[name], 2)  # type: ignore[operator]
    return out


if __name__ == "__main__":
    main()
