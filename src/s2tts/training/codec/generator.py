"""The codec as a generator: one differentiable pass audio -> latents -> (quantised) -> audio.

Runs the model's own modules one-shot (their ``forward`` is a single causal step from a zero
state, so training sees exactly the function that streaming inference computes), with the
training quantiser of :mod:`s2tts.training.codec.quantize` in place of the argmax lookup.
:func:`add_weight_norm` / :func:`remove_weight_norm` wrap the convolutions for training (DAC's
parametrisation) and fold them back for export.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from s2tts.models.codec.codec import Codec
from s2tts.training.codec.quantize import CodebookEMA, QuantizeOutput, VQTrainConfig, quantize_train


@dataclass
class GeneratorOutput:
    audio: torch.Tensor  # (B, 1, n) reconstruction
    z: torch.Tensor  # (B, T, D) frame-rate latent before quantisation
    quantized: QuantizeOutput | None  # None when the warm-up bypasses the quantizer


def autoencode(
    codec: Codec,
    audio: torch.Tensor,
    vq_config: VQTrainConfig,
    quantize: bool = True,
    ema: CodebookEMA | None = None,
    n_active: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> GeneratorOutput:
    """audio (B, 1, n), n a multiple of ``codec.frame_length`` -> reconstruction (B, 1, n)."""
    if audio.dim() != 3 or audio.shape[1] != 1 or audio.shape[-1] % codec.frame_length:
        raise ValueError(f"autoencode needs audio (B, 1, k * {codec.frame_length}), got {tuple(audio.shape)}")
    q = codec.quantizer
    latent = codec.encoder(audio.transpose(1, 2))  # (B, n / hop, D)
    z = q.pre_module(q.downsample(latent))  # (B, T, D)
    if quantize:
        out = quantize_train(q, z, vq_config, ema, n_active, generator)
    elif vq_config.warmup_bottleneck:
        out = quantize_train(q, z, vq_config, None, n_active, generator, continuous=True)
    else:
        out = None
    z_q = out.z_q if out is not None else z
    recon = codec.decoder(q.upsample(q.post_module(z_q)))  # (B, n, 1)
    return GeneratorOutput(recon.transpose(1, 2), z, out)


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]


def add_weight_norm(codec: Codec) -> Codec:
    """Weight-norm every 1-D (transposed) convolution of the codec, in place (values unchanged)."""
    for conv in _convs(codec):
        if not parametrize.is_parametrized(conv, "weight"):
            weight_norm(conv)
    return codec


def remove_weight_norm(codec: Codec) -> Codec:
    """Fold weight norm back into plain weights, in place (the layout inference loads)."""
    for conv in _convs(codec):
        if parametrize.is_parametrized(conv, "weight"):
            parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    return codec
