"""The phone probes along a codec's path: context features, the softmax probe, and the probes on a
real (tiny, random) codec over festival-labelled speech."""

from __future__ import annotations

import torch

from s2tts.models.codec import Codec, CodecConfig
from s2tts.training.codec import phone_layers as layers
from s2tts.training.codec.phone_probe import festival_labelled


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


def test_every_point_of_a_codec_path_is_probed() -> None:
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("tiny")).eval()
    speech = festival_labelled(["The cat sat on the mat.", "A dog ran to the park.", "We ate fish."] * 2)
    result = layers.layer_accuracies(codec, speech, whisper=False, log=None)
    points = ["latent", *(f"codebooks 1..{k}" for k in range(1, codec.num_codebooks + 1))]
    assert set(result) == {"baseline", "fit_frames", "test_frames", *points}
    assert result["fit_frames"] > 20 and result["test_frames"] > 20
    # the same sentences on both sides of the split: even a random codec's latent beats guessing
    assert all(0.0 <= result[p] <= 1.0 for p in points)
    assert result["latent"] > result["baseline"]
