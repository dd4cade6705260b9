"""Opt-in ``torch.compile`` of the decode hot path, never applied at import.

The fast AR runs nine times per frame with the same shapes (its positions are a tensor), so
one compiled graph serves every step. On this CPU class, inductor helps bf16 (its fp32 matrix-
vector products are slower than eager's), so ``compile_fast_step`` is what the engine uses for
bf16 and on CUDA; the benchmark measures both dtypes.
"""

from __future__ import annotations

import torch

from s2tts.inference.steps import FastStep
from s2tts.models.dual_ar import DualARTransformer


def compile_fast_step(model: DualARTransformer, mode: str | None = None) -> FastStep:
    """A compiled ``model.fast.step``; call it once per shape to warm it up before timing."""
    return torch.compile(model.fast.step, dynamic=False, fullgraph=True, mode=mode)
