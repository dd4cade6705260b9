"""keep_freed_host_memory: large CPU tensors come from the reused heap, not fresh mmaps.

Each case runs in a fresh interpreter (the setting is process-wide). glibc serves a block from the
heap (``[heap]`` in /proc/self/maps) or from its own mmap; in a fresh process a 100 MB block is
mmapped by default, and with the setting it comes from the heap. The step-like pattern (allocate
and touch five 16 MB tensors, free them all, ten rounds) then faults no new pages once the heap
has grown to its size.
"""

from __future__ import annotations

import json
import os
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


def _glibc_env() -> dict[str, str]:
    """This environment without a preloaded allocator: the cases are about glibc's malloc."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def _run(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True, timeout=120,
        env=_glibc_env(),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_large_blocks_come_from_the_kept_heap() -> None:
    keep, default = _run("keep"), _run("default")
    assert keep["took"] is True  # Linux + glibc, as CI runs
    assert default["in_heap"] is False  # glibc's default: a fresh mmap, faulted in on first touch
    assert keep["in_heap"] is True
    pages = 5 * 16 * 1024 * 1024 // 4096  # one round touches 20,480 pages
    assert sum(keep["faults"][-5:]) < pages // 10  # the later rounds reuse the heap's pages


_TRIM = """
import json
import torch
from s2tts.training.host_memory import host_memory_trimmer, keep_freed_host_memory

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

keep_freed_host_memory()  # freed heap memory stays resident: what trimming must give back
blocks = [torch.ones(4 * 1024 * 1024) for _ in range(20)]  # 320 MB from the heap
keep = [blocks[i] for i in range(0, 20, 5)]  # a few live blocks: the heap cannot just shrink
del blocks
held = rss_mb()
trimmed = host_memory_trimmer()()
print(json.dumps({"held": held, "after": rss_mb(), "trimmed": trimmed, "live": len(keep)}))
"""


def test_trimming_gives_the_free_heap_pages_back() -> None:
    """Freed blocks between live ones stay resident until malloc_trim returns their pages."""
    out = subprocess.run(
        [sys.executable, "-c", _TRIM], capture_output=True, text=True, check=True, timeout=120,
        env=_glibc_env(),
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["trimmed"] is True
    assert result["held"] - result["after"] > 150  # most of the 240 MB freed between live blocks


def test_another_preloaded_allocator_is_recognised() -> None:
    from s2tts.training.host_memory import allocator_preloaded

    assert allocator_preloaded({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"})
    assert not allocator_preloaded({"LD_PRELOAD": "/usr/lib/libfoo.so"}) and not allocator_preloaded({})
