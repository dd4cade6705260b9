"""Weight-only int8: per-channel quantization error and the decode-time model it produces."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2tts.errors import ConfigError
from s2tts.inference.prepare import prepare_for_decode
from s2tts.inference.quantize import Int8Linear, quantize_weight_int8
from s2tts.models.weights import load_model

PARITY = Path(__file__).parents[1] / "data" / "parity"
# Measured on the parity checkpoints: relative L2 error of the slow logits 0.73-0.87 %.
LOGITS_REL_ERROR = 0.02


def test_per_channel_scales_bound_the_weight_error() -> None:
    w = torch.randn(48, 32, generator=torch.Generator().manual_seed(0))
    w[3] *= 100.0  # one loud channel must not cost the others their precision
    values, scales = quantize_weight_int8(w)
    assert values.dtype == torch.int8 and scales.shape == (48,)
    err = (values.float() * scales[:, None] - w).abs()
    assert torch.all(err <= scales[:, None] / 2 + 1e-6)
    assert scales[0] < scales[3] / 50


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_linear_is_close_to_the_float_one(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    linear = torch.nn.Linear(64, 96, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(96, 64, generator=gen) * 0.05)
    q = Int8Linear.from_linear(linear)
    x = torch.randn(3, 5, 64, generator=gen).to(dtype)
    out = q(x)
    assert out.shape == (3, 5, 96) and out.dtype == dtype
    ref = linear(x.float())
    assert ((out.float() - ref).norm() / ref.norm()).item() < 0.02


@pytest.mark.parametrize("name", ["lm_a", "lm_b"])
def test_quantized_model_logits_within_the_documented_bound(name: str) -> None:
    golden = load_file(str(PARITY / f"{name}_golden.safetensors"))
    model = load_model(PARITY / name)
    quantized = prepare_for_decode(load_model(PARITY / name), quantize="int8")
    assert isinstance(quantized.slow.layers[0].attention.wqkv, Int8Linear)
    assert isinstance(quantized.fast.output, Int8Linear)
    values = golden["input_values"][None]
    with torch.no_grad():
        ref = model.slow.logits(model.slow(values))
        out = quantized.slow.logits(quantized.slow(values))
    rel = ((out - ref).norm() / ref.norm()).item()
    assert 0 < rel < LOGITS_REL_ERROR


def test_unknown_quantize_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="int4x"):
        prepare_for_decode(load_model(PARITY / "lm_a"), quantize="int4x")


@pytest.mark.parametrize("name", ["lm_a", "lm_b"])
def test_quantized_greedy_choices_mostly_equal(name: str) -> None:
    """Teacher-forced (the same context for both), the int8 model picks the same greedy main
    token and codebook codes almost everywhere (measured: 100 % and 99 %). Free-running greedy
    sequences of random-weight models are chaotic after the first differing pick, so the
    comparison is per position."""
    golden = load_file(str(PARITY / f"{name}_golden.safetensors"))
    model = load_model(PARITY / name)
    quantized = prepare_for_decode(load_model(PARITY / name), quantize="int8")
    values, labels = golden["input_values"][None], golden["train_labels"][None]
    with torch.no_grad():
        ref = model.forward_train(values, labels)
        out = quantized.forward_train(values, labels)
    tokens = (ref.token_logits.argmax(-1) == out.token_logits.argmax(-1)).float().mean().item()
    codes = (ref.codebook_logits.argmax(-1) == out.codebook_logits.argmax(-1)).float().mean().item()
    assert tokens >= 0.95 and codes >= 0.95
