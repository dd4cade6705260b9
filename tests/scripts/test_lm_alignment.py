"""scripts/lm_alignment.py: its per-head scores and the attention it records."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

import s2tts.models.layers as layers

SCRIPT = Path(__file__).parents[2] / "scripts" / "lm_alignment.py"
spec = importlib.util.spec_from_file_location("lm_alignment", SCRIPT)
alignment = importlib.util.module_from_spec(spec)
spec.loader.exec_module(alignment)


def test_a_diagonal_head_scores_monotonic_and_a_reversed_one_does_not() -> None:
    t = 30
    text, frames = torch.arange(0, 10), torch.arange(10, 30)
    diagonal = torch.zeros(2, t, t)
    for i, f in enumerate(frames):
        diagonal[0, f, i // 2] = 1.0  # two frames per text position, forward
        diagonal[1, f, 9 - i // 2] = 0.5  # backward, half the attention on the text
        diagonal[1, f, f] = 0.5
    (mono0, mass0), (mono1, mass1) = alignment.head_scores(diagonal, frames, text)
    assert mono0 > 0.99 and mass0 == 1.0
    assert mono1 < -0.99 and abs(mass1 - 0.5) < 1e-6


def test_recorded_attention_is_what_the_model_computes_and_leaves_its_output_alone() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 4, 20, 8, generator=g) for _ in range(3))
    want = F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], is_causal=True, enable_gqa=True)
    with alignment.recorded_attention() as calls:
        got = layers.F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], is_causal=True, enable_gqa=True)
        layers.F.scaled_dot_product_attention(
            q[:, :, :3], k[:, :, :3], v[:, :, :3], is_causal=True
        )  # short: not kept
    assert layers.F is F  # restored
    torch.testing.assert_close(got, want)
    (weights,) = calls
    assert weights.shape == (4, 20, 20) and torch.allclose(weights.sum(-1), torch.ones(4, 20))
    values = v[0, :2].repeat_interleave(2, dim=0)
    torch.testing.assert_close(weights @ values, want[0], rtol=1e-4, atol=1e-5)
