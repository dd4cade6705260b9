"""Every causal layer: one-shot equals an independent reference computation, and chunked
streaming (random chunk schedules, state carried between calls) equals one-shot."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.decoder import DecoderBlock
from s2tts.models.codec.encoder import EncoderBlock
from s2tts.models.codec.layers import (
    CausalConv1d,
    CausalConvTranspose1d,
    CausalSequential,
    ConvNeXtBlock,
    ResidualUnit,
    Snake,
)

ATOL = 1e-5


def _randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial parameters everywhere (default inits leave gammas ~0 and alphas at 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("alpha"):
                p.copy_(1 + 0.3 * noise.abs())
            elif name.endswith("gamma") or "norm" in name:
                p.copy_(0.5 + 0.1 * noise)
            else:
                p.copy_(noise / max(1.0, p[0].numel()) ** 0.5)
    return module.eval()


def _chunked(module, x: torch.Tensor, multiple: int, seed: int, max_chunk: int = 9) -> torch.Tensor:
    """Run ``module.step`` over random chunks of x (B, T, C); chunk lengths are multiples of ``multiple``."""
    rng = random.Random(seed)
    state = module.init_state(x.shape[0], x.device, x.dtype)
    outs, i = [], 0
    while i < x.shape[1]:
        n = min(multiple * rng.randint(1, max_chunk), x.shape[1] - i)
        outs.append(module.step(x[:, i : i + n], state))
        i += n
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "groups"),
    [
        (7, 1, 1, 1),
        (7, 1, 3, 1),
        (7, 1, 9, 1),
        (4, 2, 1, 1),
        (16, 8, 1, 1),
        (2, 2, 1, 1),
        (1, 1, 1, 1),
        (7, 1, 1, 6),
    ],
)
def test_causal_conv_matches_left_padded_conv1d_and_streams(kernel, stride, dilation, groups):
    conv = _randomize(CausalConv1d(6, 12, kernel, stride=stride, dilation=dilation, groups=groups))
    x = torch.randn(2, 48, 6)
    with torch.no_grad():
        full = conv(x)
        pad = (kernel - 1) * dilation + 1 - stride
        ref = F.conv1d(
            F.pad(x.transpose(1, 2), (pad, 0)), conv.conv.weight, conv.conv.bias, stride, 0, dilation, groups
        ).transpose(1, 2)
        assert full.shape == (2, 48 // stride, 12)
        torch.testing.assert_close(full, ref, atol=ATOL, rtol=1e-5)
        for seed in range(3):
            torch.testing.assert_close(_chunked(conv, x, stride, seed), full, atol=ATOL, rtol=1e-5)


def test_causal_conv_output_depends_only_on_the_past():
    conv = _randomize(CausalConv1d(3, 3, 7, dilation=3))
    x = torch.randn(1, 40, 3)
    y = x.clone()
    y[:, 25:] += 1.0
    with torch.no_grad():
        a, b = conv(x), conv(y)
    torch.testing.assert_close(a[:, :25], b[:, :25])
    assert not torch.allclose(a[:, 25:], b[:, 25:])


def test_strided_conv_pads_ragged_input_like_the_reference():
    conv = _randomize(CausalConv1d(2, 4, 4, stride=2))
    x = torch.randn(1, 9, 2)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), conv(F.pad(x, (0, 0, 0, 1))))
        with pytest.raises(ValueError):
            conv.step(x, conv.init_state(1, x.device, x.dtype))


@pytest.mark.parametrize(("stride", "kernel"), [(2, 4), (8, 16), (4, 8), (2, 2)])
def test_transposed_conv_matches_trimmed_conv_transpose1d_and_streams(stride, kernel):
    up = _randomize(CausalConvTranspose1d(5, 7, kernel, stride=stride))
    x = torch.randn(2, 13, 5)
    with torch.no_grad():
        full = up(x)
        ref = F.conv_transpose1d(x.transpose(1, 2), up.conv.weight, up.conv.bias, stride=stride)
        ref = ref[..., : 13 * stride].transpose(1, 2)  # causal: drop the kernel - stride tail
        assert full.shape == (2, 13 * stride, 7)
        torch.testing.assert_close(full, ref, atol=ATOL, rtol=1e-5)
        for seed in range(3):
            torch.testing.assert_close(_chunked(up, x, 1, seed, max_chunk=4), full, atol=ATOL, rtol=1e-5)


def test_transposed_conv_cache_follows_weight_updates():
    up = _randomize(CausalConvTranspose1d(3, 3, 4, stride=2))
    x = torch.randn(1, 5, 3)
    with torch.no_grad():
        before = up(x)
        up.conv.weight.mul_(2.0)
        up.conv.bias.zero_()
        after = up(x)
        ref = F.conv_transpose1d(x.transpose(1, 2), up.conv.weight, stride=2)[..., :10].transpose(1, 2)
    torch.testing.assert_close(after, ref, atol=ATOL, rtol=1e-5)
    assert not torch.allclose(before, after)


def test_snake_formula():
    snake = _randomize(Snake(4))
    x = torch.randn(2, 10, 4)
    alpha = snake.alpha.view(1, 1, 4)
    with torch.no_grad():
        expected = x + torch.sin(alpha * x) ** 2 / (alpha + 1e-9)
        torch.testing.assert_close(snake(x), expected)


@pytest.mark.parametrize("dilation", [1, 3, 9])
def test_residual_unit_streams(dilation):
    unit = _randomize(ResidualUnit(6, dilation))
    x = torch.randn(2, 70, 6)
    with torch.no_grad():
        full = unit(x)
        snake1, conv1, snake2, conv2 = unit.block
        manual = x + conv2(snake2(conv1(snake1(x))))
        torch.testing.assert_close(full, manual, atol=ATOL, rtol=1e-5)
        for seed in range(3):
            torch.testing.assert_close(_chunked(unit, x, 1, seed), full, atol=ATOL, rtol=1e-5)


def test_convnext_block_streams_and_matches_definition():
    block = _randomize(ConvNeXtBlock(8))
    x = torch.randn(2, 30, 8)
    with torch.no_grad():
        full = block(x)
        h = F.layer_norm(block.dwconv(x), (8,), block.norm.weight, block.norm.bias, 1e-6)
        manual = x + block.gamma * block.pwconv2(F.gelu(block.pwconv1(h)))
        torch.testing.assert_close(full, manual, atol=ATOL, rtol=1e-5)
        for seed in range(3):
            torch.testing.assert_close(_chunked(block, x, 1, seed), full, atol=ATOL, rtol=1e-5)


def test_sequential_fuses_snake_into_conv_without_changing_results():
    seq = _randomize(CausalSequential([Snake(4), CausalConv1d(4, 4, 7, dilation=3), Snake(4)]))
    x = torch.randn(1, 25, 4)
    with torch.no_grad():
        manual = seq[2](seq[1](seq[0](x)))
        torch.testing.assert_close(seq(x), manual, atol=ATOL, rtol=1e-5)
        torch.testing.assert_close(_chunked(seq, x, 1, 0), manual, atol=ATOL, rtol=1e-5)


def test_encoder_block_with_transformer_streams():
    config = CodecConfig.preset("tiny")
    block = _randomize(EncoderBlock(config, 3))  # stride 8, window-limited transformer inside
    x = torch.randn(2, 8 * 40, 32)
    with torch.no_grad():
        full = block(x)
        assert full.shape == (2, 40, 64)
        for seed in range(2):
            torch.testing.assert_close(_chunked(block, x, 8, seed, max_chunk=6), full, atol=1e-4, rtol=1e-4)


def test_decoder_block_streams():
    block = _randomize(DecoderBlock(16, 8, 4))
    x = torch.randn(2, 20, 16)
    with torch.no_grad():
        full = block(x)
        assert full.shape == (2, 80, 8)
        for seed in range(3):
            torch.testing.assert_close(_chunked(block, x, 1, seed), full, atol=ATOL, rtol=1e-5)
