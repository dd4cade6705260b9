"""Codec training data, streamed from disk (``data.stream``) against held in memory (the default).

* **Throughput** (in the process's CPU seconds, since the core is shared, and in wall seconds):
  the trainer's own generator step (``recipe._step``, quantised, mel + RVQ losses;
  the ``cpu-small`` codec and ``configs/train/codec-cpu-small.yaml`` by default) fed by each source
  in turn, **interleaved** step by step (in-memory, streaming, in-memory...) from the same seed, so
  both see the same machine load; the time to draw a batch is measured apart from the step.
* **Memory**, in child processes (clean peaks): peak RSS after loading a folder in memory, and
  after indexing a folder ``--stream-hours`` long (symbolic links to the same files, so the disk
  holds it) and drawing batches from it; index build time, cached re-open time, bytes per file.

The machine is shared, so ``os.getloadavg()`` is recorded; compare figures within one run only.
The last line is one JSON object (keys include ``in_memory_audio_s_per_s``,
``stream_audio_s_per_s``, ``stream_vs_in_memory``, ``in_memory_mb_per_hour``,
``stream_peak_rss_mb``).

    python bench/codec_stream.py [--steps 30] [--threads 1] [--audio-dir DIR] [--stream-hours 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average, peak_rss_mb, run_child  # noqa: E402
from train_codec import build  # noqa: E402

ROOT = Path(__file__).parents[1]
SR, FRAME = 44100, 2048


def sources(folder: Path, cache: Path):
    from s2tts.training.codec.data import InMemoryClips, list_audio, load_folder
    from s2tts.training.codec.stream import StreamingClips, build_index

    names = list_audio(folder)
    memory = InMemoryClips(load_folder(folder, SR, FRAME, names))
    stream = StreamingClips(folder, build_index(folder, names, cache, progress=False), SR, FRAME)
    return memory, stream


def throughput(args, folder: Path, cache: Path) -> dict:
    from s2tts.training.codec.data import CropSampler, crop_samples
    from s2tts.training.codec.recipe import _step
    from s2tts.training.distributed import DistInfo
    from s2tts.training.precision import Precision

    config = ROOT / "configs" / "train" / "codec-cpu-small.yaml"
    models = {}
    for mode in ("memory", "stream"):  # two identical models, one per source
        cfg, gen, disc, opt_g, opt_d, mel, _ = build(args.preset, config, args.batch, args.crop)
        models[mode] = (cfg, gen, disc, opt_g, opt_d, mel)
    memory, stream = sources(folder, cache)
    crop = crop_samples(args.crop, SR, FRAME)
    samplers = {
        m: CropSampler(s, crop, args.batch, 0, 1, seed=0) for m, s in (("memory", memory), ("stream", stream))
    }
    precision, dist = Precision.parse("fp32", torch.device("cpu")), DistInfo()
    # per mode: wall and CPU seconds of drawing each batch and of each step
    times: dict[str, dict[str, list[float]]] = {
        m: {k: [] for k in ("data", "step", "data_cpu", "step_cpu")} for m in samplers
    }
    loads = [load_average()]
    for i in range(args.steps + 1):  # the first round warms up and is not counted
        for mode, sampler in samplers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            audio = sampler.next_batch()[0]
            t1, c1 = time.perf_counter(), time.process_time()
            cfg, gen, disc, opt_g, opt_d, mel = models[mode]
            n_active = torch.full((audio.shape[0],), gen.codec.num_codebooks)
            rng = torch.Generator().manual_seed(i)
            _step(cfg, gen, disc, opt_g, opt_d, mel, None, audio, True, n_active, rng, False, precision, dist)
            if i:
                for key, value in (
                    ("data", t1 - t0), ("step", time.perf_counter() - t1),
                    ("data_cpu", c1 - c0), ("step_cpu", time.process_time() - c1),
                ):  # fmt: skip
                    times[mode][key].append(value)
        if i % 10 == 0:
            loads.append(load_average())
    audio_s = args.batch * crop / SR
    out: dict = {"load_avg_during": loads, "steps_each": args.steps, "audio_s_per_step": audio_s}
    for mode, key in (("memory", "in_memory"), ("stream", "stream")):
        t = times[mode]
        for part in ("data", "step", "data_cpu", "step_cpu"):
            out[f"{key}_{part}_median_s"] = statistics.median(t[part])
        # throughput in CPU seconds (what this process got of a shared core) and in wall seconds
        out[f"{key}_audio_s_per_s"] = audio_s * args.steps / (sum(t["data_cpu"]) + sum(t["step_cpu"]))
        out[f"{key}_audio_s_per_wall_s"] = audio_s * args.steps / (sum(t["data"]) + sum(t["step"]))
    out["stream_vs_in_memory"] = out["stream_audio_s_per_s"] / out["in_memory_audio_s_per_s"]
    out["stream_vs_in_memory_wall"] = out["stream_audio_s_per_wall_s"] / out["in_memory_audio_s_per_wall_s"]
    return out


def link_folder(folder: Path, files: list[Path], hours: float) -> float:
    """Symbolic links to ``files`` (cycled) totalling about ``hours``; returns their seconds."""
    import soundfile as sf

    lengths = [sf.info(str(f)).duration for f in files]
    folder.mkdir(parents=True, exist_ok=True)
    total, i = 0.0, 0
    while total < hours * 3600:
        link = folder / f"{i // 1000:03d}" / f"l{i:07d}{files[i % len(files)].suffix}"
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(files[i % len(files)].resolve())
        total += lengths[i % len(files)]
        i += 1
    return total


def child(args) -> dict:
    """One memory measurement in a fresh interpreter: ``--mode memory|stream`` on ``--folder``."""
    torch.set_num_threads(args.threads)
    from s2tts.training.codec.data import CropSampler, InMemoryClips, list_audio, load_folder
    from s2tts.training.codec.stream import StreamingClips, build_index

    folder, base = Path(args.folder), peak_rss_mb()
    t0 = time.perf_counter()
    names = list_audio(folder)
    if args.mode == "memory":
        source = InMemoryClips(load_folder(folder, SR, FRAME, names))
        held = sum(c.audio.nbytes for c in source.clips)
        extra = {"waveform_mb": held / 2**20, "load_s": time.perf_counter() - t0}
    else:
        cache = Path(args.cache)
        entries = build_index(folder, names, cache, progress=False)
        built = time.perf_counter() - t0
        t1 = time.perf_counter()
        entries = build_index(folder, names, cache, progress=False)
        source = StreamingClips(folder, entries, SR, FRAME)
        extra = {
            "index_build_s": built,
            "index_reopen_s": time.perf_counter() - t1,
            "index_file_bytes_per_file": cache.stat().st_size / len(entries),
        }
    sampler = CropSampler(source, 44032, 8, 0, 1, seed=0)
    for _ in range(20):
        sampler.next_batch()
    return {"files": len(source), "peak_rss_mb": peak_rss_mb(), "rss_before_mb": base, **extra}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=float, default=1.0)
    parser.add_argument("--audio-dir", help="audio to train on (default: 48 espeak-ng utterances)")
    parser.add_argument("--memory-hours", type=float, default=0.5)
    parser.add_argument("--stream-hours", type=float, default=20.0)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--mode", choices=("memory", "stream"))
    parser.add_argument("--folder")
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    torch.set_num_threads(args.threads)
    from s2tts.training.codec.data import list_audio, synthesize_corpus

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = Path(args.audio_dir) if args.audio_dir else synthesize_corpus(tmp / "speech", 48, seed=0)
        out: dict = {"load_avg_start": load_average(), "threads": args.threads, "preset": args.preset}
        out.update(throughput(args, folder, tmp / "index.json"))
        files = [folder / n for n in list_audio(folder)]
        memory_s = link_folder(tmp / "memory", files, args.memory_hours)
        stream_s = link_folder(tmp / "stream", files, args.stream_hours)

        def measure(mode: str, name: str) -> dict:
            where = ["--folder", str(tmp / name), "--cache", str(tmp / f"{name}-{mode}-index.json")]
            return run_child(__file__, ["--mode", mode, "--threads", str(args.threads), *where], timeout=3600)

        mem, big, small = (
            measure("memory", "memory"),
            measure("stream", "stream"),
            measure("stream", "memory"),
        )
        out.update(
            in_memory_hours=memory_s / 3600,
            in_memory_files=mem.get("files"),
            in_memory_peak_rss_mb=mem.get("peak_rss_mb"),
            in_memory_waveform_mb=mem.get("waveform_mb"),
            in_memory_mb_per_hour=mem["waveform_mb"] * 3600 / memory_s if "waveform_mb" in mem else None,
            in_memory_load_s=mem.get("load_s"),
            stream_hours=stream_s / 3600,
            stream_files=big.get("files"),
            stream_peak_rss_mb=big.get("peak_rss_mb"),
            stream_small_folder_peak_rss_mb=small.get("peak_rss_mb"),
            stream_index_build_s=big.get("index_build_s"),
            stream_index_reopen_s=big.get("index_reopen_s"),
            stream_index_file_bytes_per_file=big.get("index_file_bytes_per_file"),
            child_rss_before_mb=big.get("rss_before_mb"),
            errors=[r["error"] for r in (mem, big, small) if "error" in r],
            load_avg_end=load_average(),
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
