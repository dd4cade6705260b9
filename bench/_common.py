"""Shared benchmark helpers: peak memory, copy bandwidth, child-process runs, JSON output."""

from __future__ import annotations

import json
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


def copy_bandwidth_gbs(megabytes: int = 256, repeats: int = 10) -> float:
    """Read bandwidth estimate: bytes read per second by a large tensor copy (one read + one write)."""
    src = torch.empty(megabytes * 1024 * 1024 // 4).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    start = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    elapsed = time.perf_counter() - start
    # A copy moves 2x the bytes (read + write); report the per-direction rate matrix-vector work sees.
    return 2 * src.numel() * 4 * repeats / elapsed / 1e9 / 2


def run_child(script: str, args: list[str], timeout: float = 900) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter (clean memory peak) and parse its last line."""
    proc = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc={proc.returncode}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])
