"""Server benchmark: the engine benchmark's figures through HTTP, and what the HTTP layer adds.

LM: ``bench-small`` preset, codec: ``small`` preset, random weights, fp32. One engine is served by
the real app (``create_app``) under uvicorn on 127.0.0.1 (a free port, in a thread of this
process). For 1, 4 and 16 concurrent clients, httpx sends streaming ``POST /v1/tts`` requests
(``format: pcm``, ``streaming: true``, ``min_new_tokens = max_new_tokens``, so every request makes
``--frames`` frames) and times the first audio byte (p50/p95) and the aggregate real-time factor
(wall time / seconds of audio made). In the same run the same requests (bench/engine.py's texts,
seeds and sampling) go straight through ``engine.iter_stream``; HTTP / engine is the overhead of
the HTTP layer: body parsing, the concurrency slot, the event-loop hand-off, PCM encoding and
loopback TCP (the clients run in this process too, so their CPU time counts against the server).

The machine's load drifts, so the two paths take turns: one client sends ``--requests`` requests
one after another, alternating engine / HTTP request by request; N clients send N requests at once,
in rounds ordered engine, HTTP, HTTP, engine (``--rounds 2``) after an unmeasured burst each, figures
pooled over the rounds. The load of a shared machine moves those end-to-end ratios by several
percent from run to run, more than HTTP costs; so with one client each request's time to first
audio is also split into the engine's own part (queued -> first chunk decoded, from its metrics)
and the rest, the steady figure of what the path outside the engine adds.
The last line is one JSON object with every figure.

    python bench/serve.py [--threads 1] [--frames 24] [--levels 1,4,16] [--requests 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb  # noqa: E402
from engine import TEXTS, _quantile, timed_request  # noqa: E402
from s2tts.checkpoint import init_checkpoint, load_checkpoint  # noqa: E402
from s2tts.inference.engine import EngineConfig, TTSEngine  # noqa: E402
from s2tts.inference.prepare import prepare_for_decode  # noqa: E402
from s2tts.models.codec import load_codec  # noqa: E402
from s2tts.server.app import create_app
from s2tts.server.run import serve_in_thread  # noqa: E402
from s2tts.server.settings import ServerSettings  # noqa: E402

# One request: (ttfa_s or None, elapsed_s, samples).
Timing = tuple[float | None, float, int]


def serving(engine: TTSEngine, data_dir: Path, max_sessions: int) -> contextlib.AbstractContextManager[str]:
    """The app over ``engine`` under uvicorn on 127.0.0.1 (free port) in a thread; yields its URL."""
    settings = ServerSettings(data_dir=data_dir, max_sessions=max_sessions, log_level="warning")
    return serve_in_thread(create_app(engine, settings))


def engine_request(engine: TTSEngine, i: int, frames: int) -> Timing:
    """bench/engine.py's request i, straight through ``engine.iter_stream``."""
    return timed_request(engine, i, frames)


def http_request(http: httpx.Client, i: int, frames: int) -> Timing:
    """The same request through ``POST /v1/tts`` (pcm = 2 bytes per sample)."""
    body = {
        "text": TEXTS[i % len(TEXTS)] + f" {i}",
        "seed": i,
        "format": "pcm",
        "streaming": True,
        "temperature": 0.8,
        "top_p": 0.8,
        "top_k": 30,
        "max_new_tokens": frames + 1,
        "min_new_tokens": frames + 1,
    }
    start = time.perf_counter()
    first = None
    n = 0
    with http.stream("POST", "/v1/tts", json=body) as r:
        r.raise_for_status()
        for part in r.iter_raw():
            if first is None and part:
                first = time.perf_counter() - start
            n += len(part)
    return first, time.perf_counter() - start, n // 2


def engine_ttfa_after(engine: TTSEngine, seen: object) -> float | None:
    """The engine's own time to first audio (submit -> first chunk decoded) of the request that just
    ended; ``seen`` is the newest value before it (the engine records it right after the last chunk)."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        recent = engine.stats.recent_ttfa
        if recent and recent[-1] is not seen:
            return recent[-1]
        time.sleep(0.001)
    return None


def burst(run: Callable[[int], Timing], n: int) -> tuple[list[Timing], float]:
    """Requests 0..n-1 at once, one thread each; their timings and the wall time."""
    out: list[Timing] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        timing = run(i)
        with lock:
            out.append(timing)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, time.perf_counter() - start


def summary(timings: list[Timing], wall: float, engine: TTSEngine) -> dict:
    """bench/engine.py's figures for a set of requests that took ``wall`` seconds in all."""
    ttfa = [t[0] for t in timings if t[0] is not None]
    audio_s = sum(t[2] for t in timings) / engine.sample_rate
    return {
        "requests": len(timings),
        "ttfa_p50_ms": round(_quantile(ttfa, 0.5) * 1000, 1),
        "ttfa_p95_ms": round(_quantile(ttfa, 0.95) * 1000, 1),
        "rtf_mean": round(statistics.mean(t[1] / (t[2] / engine.sample_rate) for t in timings), 3),
        "aggregate_rtf": round(wall / audio_s, 3),
        "aggregate_frames_per_s": round(audio_s * engine.sample_rate / engine.frame_length / wall, 2),
        "wall_s": round(wall, 2),
    }


def compare(engine: TTSEngine, url: str, clients: int, frames: int, requests: int, rounds: int) -> dict:
    """Both paths at one concurrency level, taking turns; figures per path and HTTP / engine."""
    timings: dict[str, list[Timing]] = {"engine": [], "http": []}
    wall = {"engine": 0.0, "http": 0.0}
    outside: dict[str, list[float]] = {"engine": [], "http": []}  # TTFA less the engine's own
    with httpx.Client(base_url=url, timeout=600) as http:
        paths: dict[str, Callable[[int], Timing]] = {
            "engine": lambda i: engine_request(engine, i, frames),
            "http": lambda i: http_request(http, i, frames),
        }
        if clients == 1:
            for i in range(requests):
                for name in ("engine", "http"):
                    seen = engine.stats.recent_ttfa[-1] if engine.stats.recent_ttfa else None
                    t = paths[name](i)
                    timings[name].append(t)
                    wall[name] += t[1]
                    inside = engine_ttfa_after(engine, seen)
                    if t[0] is not None and inside is not None:
                        outside[name].append(t[0] - inside)
        else:
            # unmeasured first burst per path: the first decode steps at a new batch size run slow,
            # and the HTTP client opens its connections
            burst(lambda i: engine_request(engine, i, 2), clients)
            burst(lambda i: http_request(http, i, 2), clients)
            for r in range(rounds):
                for name in ("engine", "http") if r % 2 == 0 else ("http", "engine"):
                    got, seconds = burst(paths[name], clients)
                    timings[name] += got
                    wall[name] += seconds
    out = {name: summary(timings[name], wall[name], engine) for name in timings}
    h, e = out["http"], out["engine"]
    ratio = {
        "ttfa_p50": round(h["ttfa_p50_ms"] / e["ttfa_p50_ms"], 3),
        "ttfa_p95": round(h["ttfa_p95_ms"] / e["ttfa_p95_ms"], 3),
        "aggregate_rtf": round(h["aggregate_rtf"] / e["aggregate_rtf"], 3),
    }
    out["http_over_engine"] = ratio
    for name, values in outside.items():
        if values:
            out[name]["ttfa_outside_engine_ms_p50"] = round(statistics.median(values) * 1000, 2)
    if outside["http"] and outside["engine"]:
        added = h["ttfa_outside_engine_ms_p50"] - e["ttfa_outside_engine_ms_p50"]
        ratio["ttfa_added_ms"] = round(added, 2)
        ratio["ttfa_added_pct"] = round(added / e["ttfa_p50_ms"] * 100, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--frames", type=int, default=24, help="frames per request (24 = 1.1 s of audio)")
    parser.add_argument("--levels", default="1,4,16", help="concurrent clients")
    parser.add_argument("--requests", type=int, default=6, help="requests per path of the single client")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per path at N > 1 clients")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    levels = [int(x) for x in args.levels.split(",")]

    results: dict[str, object] = {"threads": args.threads, "frames_per_request": args.frames}
    with tempfile.TemporaryDirectory() as tmp:
        init_checkpoint(tmp, "bench-small", seed=0, codec_preset="small")
        config = EngineConfig(max_sessions=max(levels), max_queue=256, max_seq_len=1024)
        ckpt = load_checkpoint(tmp)
        prepare_for_decode(ckpt.model)
        engine = TTSEngine(ckpt, load_codec(tmp), config)
        try:
            with serving(engine, Path(tmp) / "data", max(levels)) as url:
                compare(engine, url, 1, 4, 1, 1)  # warm-up, both paths
                for n in levels:
                    r = compare(engine, url, n, args.frames, args.requests, args.rounds)
                    results[f"clients_{n}"] = r
                    ratio = r["http_over_engine"]
                    print(f"{n} client(s), http:  ", r["http"], flush=True)
                    print(f"{n} client(s), engine:", r["engine"], flush=True)
                    print(
                        f"{n} client(s), http / engine: TTFA p50 {ratio['ttfa_p50']:.3f} "
                        f"({(ratio['ttfa_p50'] - 1) * 100:+.1f}%), p95 {ratio['ttfa_p95']:.3f}, "
                        f"aggregate RTF {ratio['aggregate_rtf']:.3f}",
                        flush=True,
                    )
                    if "ttfa_added_ms" in ratio:
                        print(
                            f"{n} client(s), time to first audio outside the engine: "
                            f"http {r['http']['ttfa_outside_engine_ms_p50']} ms, "
                            f"engine.iter_stream {r['engine']['ttfa_outside_engine_ms_p50']} ms: "
                            f"HTTP adds {ratio['ttfa_added_ms']} ms ({ratio['ttfa_added_pct']}% of TTFA p50)",
                            flush=True,
                        )
            results["engine_metrics"] = engine.metrics()
            results["peak_rss_mb"] = round(peak_rss_mb(), 1)
        finally:
            engine.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
