"""Shared benchmark helpers: peak memory, matrix-vector read bandwidth, load, child-process runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matvec_bandwidth_gbs(megabytes: int = 256, repeats: int = 8, threads: int = 1) -> float:
    """Read bandwidth a decode step can reach: bytes of an fp32 matrix streamed per second by a
    matrix-vector product (what batch-1 decoding does with every weight), at ``threads`` threads.

    Unlike a copy, nothing is written back, and the matrix (256 MB) is far larger than the caches.
    Timed in this process's CPU time (like the decode rates), so other processes taking the core
    do not count. Returns the best of ``repeats`` runs, in GB/s."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cols = 4096
        matrix = torch.empty(megabytes * 1024 * 1024 // 4 // cols, cols).uniform_()
        vector = torch.empty(cols).uniform_()
        torch.mv(matrix, vector)
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            torch.mv(matrix, vector)
            best = min(best, time.process_time() - start)
        return matrix.numel() * 4 / best / 1e9
    finally:
        torch.set_num_threads(previous)


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages of the machine (the benchmark's background load)."""
    return [round(x, 2) for x in os.getloadavg()]


def run_child(script: str, args: list[str], timeout: float = 900, source: str | None = None) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter (clean memory peak) and parse its last line.

    ``source``: a source tree (a checkout with ``src/``) whose package the child imports instead of
    the installed one -- how a benchmark measures another revision alternately with this one."""
    env = None
    if source is not None:
        env = {**os.environ, "PYTHONPATH": str(Path(source) / "src")}
    proc = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc={proc.returncode}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])
