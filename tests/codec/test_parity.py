"""Parity with the reference codec (golden vectors, part B of tests/data/parity/README.md), fp32.

Codes must match exactly; intermediates within 1e-4 and decoded audio within 2e-4 (the README's
suggested CI tolerances).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from s2tts.models.codec import Codec, CodecConfig, load_codec

INTERMEDIATE_ATOL = 1e-4
AUDIO_ATOL = 2e-4


DATA = Path(__file__).parents[1] / "data" / "parity"


@pytest.fixture(scope="module")
def parity() -> tuple[Codec, dict[str, torch.Tensor]]:
    data = DATA
    codec = load_codec(data / "codec")  # picks codec.safetensors + the reference codec_config.json
    return codec, load_file(str(data / "codec_golden.safetensors"))


def _close(ours_time_major: torch.Tensor, golden: torch.Tensor, atol: float) -> None:
    torch.testing.assert_close(ours_time_major[0].T, golden, atol=atol, rtol=0)


def test_reference_config_gives_the_tiny_preset(parity):
    codec, _ = parity
    assert codec.config == CodecConfig.preset("tiny")
    assert codec.frame_length == 2048 and codec.codebook_sizes == (64,) + (32,) * 9


def test_encode_reproduces_codes_exactly(parity):
    codec, g = parity
    codes, lengths = codec.encode(g["signal"], 44100)
    assert codes.dtype == torch.int64
    assert torch.equal(codes[0], g["codes"])
    assert torch.equal(lengths, g["code_lengths"])


def test_encode_intermediates(parity):
    codec, g = parity
    x = F.pad(g["signal"], (0, 45056 - 44100)).view(1, -1, 1)
    with torch.no_grad():
        encoded = codec.encoder(x)
        _close(encoded, g["encoder_out"], INTERMEDIATE_ATOL)
        down = codec.quantizer.downsample(encoded)
        _close(down, g["downsample_out"], INTERMEDIATE_ATOL)
        pre = codec.quantizer.pre_module(down)
        _close(pre, g["pre_module_out"], INTERMEDIATE_ATOL)
        codes, latents = codec.quantizer.quantize(pre)
        _close(latents, g["vq_latents"], INTERMEDIATE_ATOL)
        assert torch.equal(codes[0], g["codes"])
        _close(codec.quantizer.decode(codes), g["vq_z_forward"], INTERMEDIATE_ATOL)


def test_decode_intermediates_and_audio(parity):
    codec, g = parity
    codes = g["codes"][None]
    with torch.no_grad():
        z = codec.quantizer.embed(codes)
        _close(z, g["decode_post_module_in"], INTERMEDIATE_ATOL)
        z = codec.quantizer.post_module(z)
        _close(z, g["decode_post_module_out"], INTERMEDIATE_ATOL)
        z = codec.quantizer.upsample(z)
        _close(z, g["decoder_in"], INTERMEDIATE_ATOL)
    audio = codec.decode(codes)
    assert audio.shape == (1, 1, 45056)
    torch.testing.assert_close(audio[0, 0], g["decoded_audio"], atol=AUDIO_ATOL, rtol=0)


@pytest.mark.parametrize("chunks", [[1] * 22, [3, 5, 1, 13], [22]])
def test_streaming_decode_reproduces_golden_audio(parity, chunks):
    codec, g = parity
    state = codec.init_decode_state(1)
    outs, start = [], 0
    for n in chunks:
        outs.append(codec.decode_step(g["codes"][None, :, start : start + n], state))
        start += n
    torch.testing.assert_close(torch.cat(outs, -1)[0, 0], g["decoded_audio"], atol=AUDIO_ATOL, rtol=0)


def test_streaming_encode_reproduces_golden_codes(parity):
    codec, g = parity
    audio = F.pad(g["signal"], (0, 45056 - 44100)).view(1, 1, -1)
    state = codec.init_encode_state(1)
    outs, start = [], 0
    for n in [1, 4, 2, 7, 8]:
        outs.append(codec.encode_step(audio[..., start * 2048 : (start + n) * 2048], state))
        start += n
    assert torch.equal(torch.cat(outs, -1)[0], g["codes"])
