"""scripts/codec_phone_layers.py: the context features and the softmax probe it ranks codecs by."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).parents[2] / "scripts" / "codec_phone_layers.py"
spec = importlib.util.spec_from_file_location("codec_phone_layers", SCRIPT)
layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layers)


def test_context_stacks_neighbours_with_repeated_edges() -> None:
    x = torch.arange(4.0)[:, None]  # (T=4, D=1)
    out = layers.with_context(x, width=1)
    assert out.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]


def test_probe_reads_classes_that_the_features_carry_and_not_noise() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (600,), generator=g)
    centres = torch.randn(5, 8, generator=g) * 3
    informative = centres[y] + torch.randn(600, 8, generator=g)
    noise = torch.randn(600, 8, generator=g)
    fit, test = slice(0, 300), slice(300, 600)
    assert layers.probe_accuracy(informative[fit], y[fit], informative[test], y[test], 5) > 0.9
    assert layers.probe_accuracy(noise[fit], y[fit], noise[test], y[test], 5) < 0.4
