"""LM training benchmark: tokens/s, MFU and step time against a plain ``transformers`` peer.

On the ``bench-small`` shape (random weights, fp32, CPU, ``--threads`` intra-op threads) it times
one optimizer step of our trainer (``DualARObjective``: slow AR over every column + fast AR over
every audio frame, S2 §4.2 loss, backward, grad clipping, AdamW) and of a ``Qwen3ForCausalLM`` of
the slow AR's shape on the same batch (forward with labels, backward, clipping, AdamW), interleaved
so machine load hits both alike. It also times the slow path alone (the fast AR on no frame) and,
for each ``--fast-fraction`` < 1, the trainer with the fast AR on that random share of the frames
(``loss.fast_fraction``). ``flop_ratio_vs_transformers`` (our model FLOPs over the peer's) is the
step ratio a trainer exactly as efficient per FLOP as the peer would reach.

MFU = model FLOPs of the step / step time / peak, where the peak is the fp32 GEMM rate measured in
the same run (square ``torch.mm``; sampled before every timed round, the best sample used, so a
loaded machine lowers the MFU rather than inflating it), and model FLOPs count 6 x (matmul params) per token for the
slow AR, 6 x (matmul params) x num_codebooks per frame for the fast AR, the output heads at the
rows actually computed (full vocab for text targets, semantic + ``<|im_end|>`` for audio targets,
codebook size per fast position), and causal attention (half of the full T^2 score and value
products, x3 for training). Peak memory is the process's VmHWM.

With CUDA it also runs the ``s2-pro`` shape with rsLoRA (r 16) in bf16: tokens/s, MFU against the
measured bf16 GEMM peak, and peak GPU memory.

The last stdout line is one JSON object with ``mfu``, ``step_ratio_vs_transformers``,
``tokens_per_s`` and the rest of the figures, plus ``loadavg`` at the start and end.

As the trainer does on CPU (``keep_host_memory``), the process keeps freed memory for reuse
(``s2tts.training.host_memory``); ``--no-keep-host-memory`` measures glibc's default instead.

    python bench/train_lm.py [--threads 1] [--batch 1] [--seq 256] [--repeats 3] [--quick]
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
from _common import peak_rss_mb  # noqa: E402


def gemm_peak(dtype: torch.dtype, device: str, n: int = 1024, seconds: float = 1.5) -> float:
    """Best FLOP/s of an n x n x n matmul over ~``seconds``."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t0))
    return best


def _matmul_params(cfg) -> int:
    """Per-layer matmul weights x layers of one stack."""
    return cfg.n_layer * (
        cfg.dim * (cfg.q_size + 2 * cfg.kv_size) + cfg.q_size * cfg.dim + 3 * cfg.dim * cfg.intermediate_size
    )


def model_flops(config, batch: int, seq: int, text_cols: int, frames: int) -> float:
    """Training FLOPs of one step (see module docstring); ``frames`` = fast-AR positions."""
    s, f = config.slow, config.fast
    tokens = batch * seq
    slow = 6 * _matmul_params(s) * tokens
    attn = 3 * s.n_layer * batch * (2 * 2 * seq * seq * s.n_head * s.head_dim) / 2
    head = (
        6
        * s.dim
        * (
            batch * (text_cols - 1) * config.vocab_size
            + batch * (seq - text_cols) * (config.num_semantic + 1)
        )
    )
    n = config.num_codebooks
    fast = 6 * frames * (_matmul_params(f) * n + f.dim * config.codebook_size * n)
    return float(slow + attn + head + fast)


def peer_flops(config, batch: int, seq: int) -> float:
    """Training FLOPs of the slow-shaped peer: the slow stack, causal attention, a full-vocab head."""
    s = config.slow
    tokens = batch * seq
    attn = 3 * s.n_layer * batch * (2 * 2 * seq * seq * s.n_head * s.head_dim) / 2
    return float(6 * (_matmul_params(s) + s.dim * config.vocab_size) * tokens + attn)


def _batch(
    config, batch: int, seq: int, text_cols: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    from s2tts.training.lm.samples import AUDIO, TEXT

    c = config.num_codebooks
    values = torch.zeros(batch, 1 + c, seq, dtype=torch.long)
    values[:, 0, :text_cols] = torch.randint(0, 256, (batch, text_cols), generator=gen)
    codes = torch.randint(0, config.codebook_size, (batch, c, seq - text_cols), generator=gen)
    values[:, 0, text_cols:] = config.semantic_begin_id + codes[:, 0]
    values[:, 1:, text_cols:] = codes
    kinds = torch.full((batch, seq), AUDIO, dtype=torch.long)
    kinds[:, : text_cols - 1] = TEXT
    kinds[:, -1] = 0
    return values, kinds


def _ours(model, values, kinds, fast_fraction: float, slow_only: bool = False):
    from s2tts.training.lm.config import LMRunConfig, OptimSection
    from s2tts.training.lm.losses import LossConfig, combine
    from s2tts.training.lm.objective import DualARObjective
    from s2tts.training.lm.setup import build_optimizer

    loss_cfg = LossConfig(fast_fraction=fast_fraction)
    obj = DualARObjective(model, loss_cfg)
    gen = torch.Generator().manual_seed(0)
    opt = build_optimizer(model, LMRunConfig(loss=loss_cfg, optim=OptimSection(lr=1e-4)))
    params = [p for p in obj.parameters() if p.requires_grad]

    def step() -> None:
        keep = torch.zeros_like(kinds, dtype=torch.bool) if slow_only else obj.fast_keep(kinds, gen)
        slow_n, fast_n = obj.counts(values, kinds, keep)
        s, f = obj(values, kinds, keep)
        combine(s, slow_n, f, fast_n, loss_cfg).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _peer(config, values, device: str, dtype: torch.dtype):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    s = config.slow
    qcfg = Qwen3Config(
        vocab_size=config.vocab_size, hidden_size=s.dim, intermediate_size=s.intermediate_size,
        num_hidden_layers=s.n_layer, num_attention_heads=s.n_head, num_key_value_heads=s.n_kv_head,
        head_dim=s.head_dim, max_position_embeddings=s.max_seq_len, rope_theta=s.rope_base,
        rms_norm_eps=s.norm_eps, tie_word_embeddings=True, attention_bias=False, use_cache=False,
    )  # fmt: skip
    qcfg._attn_implementation = "sdpa"
    peer = Qwen3ForCausalLM(qcfg).to(device=device, dtype=dtype).train()
    ids = values[:, 0].to(device)
    # transformers' Trainer defaults to torch's fused AdamW (optim="adamw_torch_fused"), as ours does
    opt = torch.optim.AdamW(peer.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        out = peer(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(peer.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _time(
    steps: dict, repeats: int, peaks: list[float] | None = None, dtype=torch.float32, device="cpu"
) -> dict[str, float]:
    """Median seconds per step, interleaved; ``peaks`` gets a GEMM-rate sample before every round."""
    for fn in steps.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        if peaks is not None:
            peaks.append(gemm_peak(dtype, device, seconds=1.0))
        for name, fn in steps.items():  # interleaved
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    if peaks is not None:
        peaks.append(gemm_peak(dtype, device, seconds=1.0))
    return {k: statistics.median(v) for k, v in times.items()}


def cpu_bench(args: argparse.Namespace) -> dict:
    from s2tts.checkpoint import random_init
    from s2tts.models.config import DualARConfig
    from s2tts.models.dual_ar import DualARTransformer

    config = DualARConfig.preset("bench-small")
    gen = torch.Generator().manual_seed(0)
    text_cols = args.seq // 5
    values, kinds = _batch(config, args.batch, args.seq, text_cols, gen)
    model = random_init(DualARTransformer(config), seed=0).train()
    steps = {
        "ours": _ours(model, values, kinds, 1.0),
        "transformers": _peer(config, values, "cpu", torch.float32),
    }
    model_slow = random_init(DualARTransformer(config), seed=0).train()
    steps["ours_slow_only"] = _ours(model_slow, values, kinds, 1.0, slow_only=True)
    fractions = [f for f in args.fast_fraction if f < 1.0]
    for f in fractions:
        model_f = random_init(DualARTransformer(config), seed=0).train()
        steps[f"ours_fast_fraction_{f}"] = _ours(model_f, values, kinds, f)
    peaks: list[float] = []
    t = _time(steps, args.repeats, peaks)
    peak = max(peaks)  # the best GEMM rate seen between the timed steps: a conservative MFU
    frames = args.batch * (args.seq - text_cols)  # every audio column whose target is semantic
    flops = model_flops(config, args.batch, args.seq, text_cols, frames)
    tokens = args.batch * args.seq
    out = {
        "shape": "bench-small",
        "batch": args.batch,
        "seq": args.seq,
        "audio_fraction": round(1 - text_cols / args.seq, 3),
        "gemm_peak_gflops": peak / 1e9,
        "gemm_gflops_samples": [round(p / 1e9, 1) for p in peaks],
        "step_s": t["ours"],
        "transformers_step_s": t["transformers"],
        "step_ratio_vs_transformers": t["ours"] / t["transformers"],
        "tokens_per_s": tokens / t["ours"],
        "transformers_tokens_per_s": tokens / t["transformers"],
        "model_gflops_per_step": flops / 1e9,
        "mfu": flops / t["ours"] / peak,
        "transformers_mfu": peer_flops(config, args.batch, args.seq) / t["transformers"] / peak,
        # the step ratio a trainer as efficient per FLOP as the peer would get on this batch
        "flop_ratio_vs_transformers": flops / peer_flops(config, args.batch, args.seq),
    }
    # the slow path alone (fast AR on no frame) against the slow-shaped peer: like for like
    out["slow_only_step_s"] = t["ours_slow_only"]
    out["slow_only_step_ratio_vs_transformers"] = t["ours_slow_only"] / t["transformers"]
    out["slow_only_mfu"] = (
        model_flops(config, args.batch, args.seq, text_cols, 0) / t["ours_slow_only"] / peak
    )
    out["fast_fraction"] = []
    for f in fractions:
        sub = model_flops(config, args.batch, args.seq, text_cols, int(frames * f))
        step_s = t[f"ours_fast_fraction_{f}"]
        out["fast_fraction"].append(
            {"fraction": f, "step_s": step_s, "step_ratio_vs_transformers": step_s / t["transformers"],
             "mfu": sub / step_s / peak}
        )  # fmt: skip
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def cuda_lora_bench(repeats: int, seq: int) -> dict:
    """s2-pro shape, bf16 weights, rsLoRA r 16 on the MLPs and attention, batch 1."""
    from s2tts.checkpoint import random_model
    from s2tts.models.config import DualARConfig
    from s2tts.training.lora import LoRAConfig, inject_lora

    device = "cuda"
    config = DualARConfig.preset("s2-pro")
    model = random_model(config, seed=0, dtype="bfloat16", device=device).train()
    inject_lora(model, LoRAConfig(enabled=True, rank=16, alpha=64, rslora=True))
    gen = torch.Generator().manual_seed(0)
    text_cols = seq // 5
    values, kinds = _batch(config, 1, seq, text_cols, gen)
    values, kinds = values.to(device), kinds.to(device)
    step = _ours(model, values, kinds, 1.0)
    torch.cuda.reset_peak_memory_stats()

    def timed() -> None:
        step()
        torch.cuda.synchronize()

    t = _time({"lora": timed}, repeats)["lora"]
    peak = gemm_peak(torch.bfloat16, device, n=8192, seconds=2.0)
    flops = model_flops(config, 1, seq, text_cols, seq - text_cols)
    return {
        "cuda_device": torch.cuda.get_device_name(),
        "s2pro_lora_step_s": t,
        "s2pro_lora_tokens_per_s": seq / t,
        "s2pro_lora_mfu_vs_bf16_gemm": flops / t / peak,
        "s2pro_lora_peak_gpu_gb": torch.cuda.max_memory_allocated() / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fast-fraction", type=float, nargs="*", default=[0.25, 0.05])
    parser.add_argument(
        "--no-keep-host-memory", action="store_true", help="glibc's default malloc trimming (for A/B)"
    )
    parser.add_argument("--quick", action="store_true", help="batch 1, seq 128, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.seq, args.repeats = 1, 128, 2
    from s2tts.training.host_memory import keep_freed_host_memory

    torch.set_num_threads(args.threads)
    # the trainer's CPU default (keep_host_memory), applied to the whole process: the peer too
    kept = not args.no_keep_host_memory and keep_freed_host_memory()
    load_start = os.getloadavg()
    result = {"threads": args.threads, "keep_host_memory": kept, **cpu_bench(args)}
    if torch.cuda.is_available():
        result.update(cuda_lora_bench(args.repeats, seq=2048))
    result["loadavg_start"] = [round(x, 2) for x in load_start]
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
