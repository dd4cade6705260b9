"""Codec benchmark: encode/decode speed, streaming decode latency and peak memory.

For the released shape (``s2-codec``, random weights) and the ``small`` preset it reports, each in
its own process (so peak memory figures don't mix):

* encode and decode speed, in seconds of audio per second, on ``--seconds`` of audio (default 10);
* streaming ``decode_step`` latency per chunk of 1, 4 and 8 frames (mean and worst, ms) and its
  real-time factor (audio per chunk / latency);
* peak RSS (VmHWM) of the process;
* for ``s2-codec``, two baselines of our own in the same run (on ``--baseline-seconds`` of audio,
  default 4, to keep the default run near 3 minutes on 2 cores): ``wn_unfolded`` (our layers with
  weight norm recomputed on every call, as the reference's parametrized convs do) and
  ``naive`` (the same math done the reference's way: channel-first ``conv1d``, ``F.pad``,
  ``conv_transpose1d``, weight norm per call, whole-signal tensors, out-of-place Snake).

The reference itself decodes ~0.48 s of audio per second and encodes ~0.70 (fp32, 1 thread, as
given in the issue, measured elsewhere); the ratios to those numbers are printed too. On CUDA the
codec runs in bf16. The last line is one JSON object with every figure.

    python bench/codec.py [--threads 1] [--seconds 10] [--baseline-seconds 4]
                          [--configs s2-codec,small] [--no-baselines]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb, run_child  # noqa: E402

REFERENCE_SPEED = {"decode": 0.48, "encode": 0.70}  # s of audio per s, fp32, 1 thread (issue)
STREAM_CHUNKS = (1, 4, 8)


# --------------------------------------------------------------------------------------------------
# model and inputs


def _codec(preset: str, device: str, dtype: torch.dtype):
    from s2tts.models.codec import Codec, CodecConfig

    torch.manual_seed(0)
    return Codec(CodecConfig.preset(preset)).to(device=device, dtype=dtype).eval()


def _codes(codec, frames: int, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    rows = [torch.randint(0, size, (1, frames), generator=gen) for size in codec.codebook_sizes]
    return torch.stack(rows, dim=1).to(device)


def _audio(seconds: float) -> torch.Tensor:
    gen = torch.Generator().manual_seed(2)
    n = int(seconds * 44100)
    t = torch.arange(n) / 44100
    tone = 0.3 * torch.sin(2 * math.pi * 220 * t) + 0.1 * torch.sin(2 * math.pi * 1234.5 * t)
    return (tone + 0.05 * torch.randn(n, generator=gen)).view(1, 1, n)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str, cpu: list[float] | None = None) -> float:
    """Wall seconds of fn(); appends this process's CPU seconds to ``cpu`` (robust to other load)."""
    _sync(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------------
# baselines


def _unfold_weight_norm(codec) -> None:
    """Re-parametrize every conv weight as g * v / ||v||, recomputed on each use (the reference's way)."""
    from torch.nn.utils.parametrizations import weight_norm

    for module in codec.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            weight_norm(module)


def _naive_decode(codec, codes: torch.Tensor) -> torch.Tensor:
    """Decode without our optimisations: whole signal, (B, C, T) conv1d/conv_transpose1d, F.pad."""
    from s2tts.models.codec import layers

    def wn(conv):  # weight norm recomputed per call (folded weight == g * v/|v| with g = |w|)
        w = conv.weight
        g = torch.linalg.vector_norm(w, dim=(1, 2), keepdim=True)
        return g * (w / torch.linalg.vector_norm(w, dim=(1, 2), keepdim=True))

    def run(module, x):  # x: (B, C, T)
        if isinstance(module, layers.Snake):
            a = module.alpha
            return x + (a + 1e-9).reciprocal() * torch.sin(a * x).pow(2)
        if isinstance(module, layers.Tanh):
            return torch.tanh(x)
        if isinstance(module, layers.CausalConv1d):
            c = module.conv
            return F.conv1d(F.pad(x, (module.context, 0)), wn(c), c.bias, c.stride, 0, c.dilation, c.groups)
        if isinstance(module, layers.CausalConvTranspose1d):
            c = module.conv
            y = F.conv_transpose1d(x, wn(c), c.bias, stride=c.stride)
            trim = c.kernel_size[0] - c.stride[0]
            return y[..., : y.shape[-1] - trim] if trim else y
        if isinstance(module, layers.ResidualUnit):
            return x + run(module.block, x)
        if isinstance(module, layers.CausalSequential):
            for child in module:
                x = run(child, x)
            return x
        return run(module.block, x)  # DecoderBlock

    latent = codec.quantizer.decode(codes)  # (B, T, D): the light frame-rate part, shared
    return run(codec.decoder.model, latent.transpose(1, 2).contiguous())


# --------------------------------------------------------------------------------------------------
# child process: one measurement


def child(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    device = args.device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    codec = _codec(args.preset, device, dtype)
    frames = math.ceil(args.seconds * codec.frame_rate)
    seconds = frames * codec.frame_length / codec.sample_rate
    out: dict = {
        "preset": args.preset,
        "task": args.task,
        "device": device,
        "dtype": str(dtype).split(".")[-1],
    }
    with torch.no_grad():
        if args.task == "encode":
            audio = _audio(seconds)
            codec.encode(audio[..., : codec.frame_length * 4], codec.sample_rate)  # warm-up
            cpu: list[float] = []
            elapsed = _timed(lambda: codec.encode(audio, codec.sample_rate), device, cpu)
            out["encode_speed"] = seconds / elapsed
            out["encode_speed_cpu_time"] = seconds / cpu[0]
        elif args.task in ("decode", "decode_wn_unfolded", "decode_naive"):
            codes = _codes(codec, frames, device)
            if args.task == "decode_wn_unfolded":
                _unfold_weight_norm(codec)
            cpu = []
            if args.task == "decode_naive":
                _naive_decode(codec, codes[..., :4])
                elapsed = _timed(lambda: _naive_decode(codec, codes), device, cpu)
            else:
                codec.decode(codes[..., :8])
                result = {}
                elapsed = _timed(lambda: result.setdefault("audio", codec.decode(codes)), device, cpu)
                out["finite"] = bool(torch.isfinite(result["audio"]).all())
            out["decode_speed"] = seconds / elapsed
            out["decode_speed_cpu_time"] = seconds / cpu[0]
        elif args.task == "stream":
            codes = _codes(codec, 64, device)
            for chunk in STREAM_CHUNKS:
                state = codec.init_decode_state(1)
                codec.decode_step(codes[..., :chunk], state)  # warm-up (also builds caches)
                steps = max(3, min(12, int(2.0 * codec.frame_rate / chunk)))
                times = []
                for i in range(steps):
                    part = codes[..., (i * chunk) % 56 : (i * chunk) % 56 + chunk]
                    times.append(_timed(lambda p=part, s=state: codec.decode_step(p, s), device))
                audio_s = chunk * codec.frame_length / codec.sample_rate
                mean = sum(times) / len(times)
                out[f"stream_{chunk}"] = {
                    "mean_ms": 1000 * mean,
                    "max_ms": 1000 * max(times),
                    "audio_ms": 1000 * audio_s,
                    "realtime_factor": audio_s / mean,
                }
    out["peak_rss_mb"] = peak_rss_mb()
    if device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


# --------------------------------------------------------------------------------------------------
# parent: run every measurement in its own process and summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for encode/decode speed")
    parser.add_argument(
        "--baseline-seconds", type=float, default=4.0, help="audio length for the (slow) baselines"
    )
    parser.add_argument("--configs", default="s2-codec,small", help="comma-separated presets")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-baselines", action="store_true", help="skip the wn_unfolded / naive baselines")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    common = ["--threads", str(args.threads), "--seconds", str(args.seconds), "--device", args.device]
    results: dict = {
        "threads": args.threads,
        "seconds": args.seconds,
        "baseline_seconds": args.baseline_seconds,
        "device": args.device,
        "reference_speed": REFERENCE_SPEED,
    }
    started = time.perf_counter()
    for preset in args.configs.split(","):
        tasks = ["encode", "decode", "stream"]
        if preset == "s2-codec" and not args.no_baselines and args.device == "cpu":
            tasks += ["decode_wn_unfolded", "decode_naive"]
        entry: dict = {}
        for task in tasks:
            extra = ["--seconds", str(args.baseline_seconds)] if task.startswith("decode_") else []
            r = run_child(__file__, [*common, "--preset", preset, "--task", task, *extra], timeout=1200)
            if "error" in r:
                entry[task] = r
                print(f"{preset:9s} {task:19s} ERROR {r['error']}", flush=True)
                continue
            figures = {k: v for k, v in r.items() if k not in ("preset", "task", "device", "dtype")}
            entry[task] = figures
            print(f"{preset:9s} {task:19s} {_describe(figures)}", flush=True)
        _ratios(preset, entry)
        results[preset] = entry
    results["wall_s"] = time.perf_counter() - started
    print(json.dumps(results))


def _describe(figures: dict) -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, dict):
            parts.append(
                f"{key}: {value['mean_ms']:.1f} ms/chunk (max {value['max_ms']:.1f}, x{value['realtime_factor']:.2f} RT)"
            )
        elif isinstance(value, float):
            parts.append(f"{key}={value:.3f}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _ratios(preset: str, entry: dict) -> None:
    if preset != "s2-codec":
        return
    dec = entry.get("decode", {}).get("decode_speed")
    enc = entry.get("encode", {}).get("encode_speed")
    ratios = {}
    if dec:
        ratios["decode_vs_reference"] = dec / REFERENCE_SPEED["decode"]
        for base in ("decode_wn_unfolded", "decode_naive"):
            speed = entry.get(base, {}).get("decode_speed")
            if speed:
                ratios[f"decode_vs_{base[len('decode_') :]}"] = dec / speed
    if enc:
        ratios["encode_vs_reference"] = enc / REFERENCE_SPEED["encode"]
    entry["ratios"] = ratios
    print(
        f"{preset:9s} ratios              " + ", ".join(f"{k}={v:.2f}x" for k, v in ratios.items()),
        flush=True,
    )


if __name__ == "__main__":
    main()
