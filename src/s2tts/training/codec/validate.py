"""Validation of a codec in training: mel distance, per-codebook usage/perplexity, decoded clips.

Runs the training forward without gradients on fixed crops: with every codebook, and with
codebook 0 alone (what the semantic codebook carries by itself). Clips go to
``<out>/samples/step-XXXXXXXX/{real,full,cb0}-N.wav``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from s2tts.audio import write_audio
from s2tts.models.codec.codec import Codec
from s2tts.training.codec.generator import autoencode
from s2tts.training.codec.losses import MultiScaleMelLoss
from s2tts.training.codec.quantize import VQTrainConfig, codebook_usage


@torch.no_grad()
def validate(
    codec: Codec,
    audio: torch.Tensor,
    mel: MultiScaleMelLoss,
    quantize: bool,
    out_dir: Path | None = None,
    step: int = 0,
    clips: int = 2,
) -> dict[str, float]:
    """audio (B, 1, n) -> metrics ``val_mel`` (+ ``val_mel_cb0``, ``cbI_used``, ``cbI_used_if_uniform``,
    ``cbI_perplexity``; see :func:`codebook_usage`)."""
    config = VQTrainConfig(mode="loss", dropout=0.0)
    full = autoencode(codec, audio, config, quantize=quantize)
    metrics = {"val_mel": float(mel.distance(full.audio, audio).mean())}
    results = {"full": full.audio}
    if quantize and full.quantized is not None:
        ones = torch.ones(audio.shape[0], dtype=torch.long)
        cb0 = autoencode(codec, audio, config, quantize=True, n_active=ones)
        metrics["val_mel_cb0"] = float(mel.distance(cb0.audio, audio).mean())
        results["cb0"] = cb0.audio
        for i, stats in enumerate(codebook_usage(full.quantized.codes, codec.codebook_sizes)):
            metrics[f"cb{i}_used"] = stats["used"]
            metrics[f"cb{i}_used_if_uniform"] = stats["used_if_uniform"]
            metrics[f"cb{i}_perplexity"] = stats["perplexity"]
    if out_dir is not None:
        folder = out_dir / "samples" / f"step-{step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(min(clips, audio.shape[0])):
            write_audio(folder / f"real-{i}.wav", audio[i, 0].float().cpu().numpy(), codec.sample_rate)
            for name, batch in results.items():
                write_audio(folder / f"{name}-{i}.wav", batch[i, 0].float().cpu().numpy(), codec.sample_rate)
    return metrics
