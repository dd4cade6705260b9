"""keep_freed_host_memory: large CPU tensors come from the reused heap, not fresh mmaps.

Each case runs in a fresh interpreter (the setting is process-wide). glibc serves a block from the
heap (``[heap]`` in /proc/self/maps) or from its own mmap; in a fresh process a 100 MB block is
mmapped by default, and with the setting it comes from the heap. The step-like pattern (allocate
and touch five 16 MB tensors, free them all, ten rounds) then faults no new pages once the heap
has grown to its size.
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json, resource, sys
import torch
from s2tts.training.host_memory import keep_freed_host_memory
took = keep_freed_host_memory() if sys.argv[1] == "keep" else None

def heap():
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            lo, hi = line.split()[0].split("-")
            return int(lo, 16), int(hi, 16)

block = torch.empty(25 * 1024 * 1024)  # 100 MB
lo, hi = heap()
in_heap = lo <= block.data_ptr() < hi
del block
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [torch.ones(4 * 1024 * 1024) for _ in range(5)]
    del blocks
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"took": took, "in_heap": in_heap, "faults": faults}))
"""


def _run(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_large_blocks_come_from_the_kept_heap() -> None:
    keep, default = _run("keep"), _run("default")
    assert keep["took"] is True  # Linux + glibc, as CI runs
    assert default["in_heap"] is False  # glibc's default: a fresh mmap, faulted in on first touch
    assert keep["in_heap"] is True
    pages = 5 * 16 * 1024 * 1024 // 4096  # one round touches 20,480 pages
    assert sum(keep["faults"][-5:]) < pages // 10  # the later rounds reuse the heap's pages
