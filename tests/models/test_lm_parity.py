"""The Dual-AR LM reproduces the reference implementation's golden outputs (fp32)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2tts.models.weights import load_model

ATOL, RTOL = 1e-5, 1e-4


@pytest.fixture(scope="module", params=["lm_a", "lm_b"])
def case(request: pytest.FixtureRequest) -> tuple:
    root = Path(__file__).parents[1] / "data" / "parity"
    model = load_model(root / request.param)
    golden = load_file(str(root / f"{request.param}_golden.safetensors"))
    return model, golden


def test_input_embedding_inference_and_training(case: tuple) -> None:
    model, g = case
    values = g["input_values"][None]
    with torch.no_grad():
        torch.testing.assert_close(
            model.slow.embed(values, scale=True)[0], g["embed_inference"], atol=ATOL, rtol=RTOL
        )
        torch.testing.assert_close(
            model.slow.embed(values, scale=False)[0], g["embed_train"], atol=ATOL, rtol=RTOL
        )


def test_slow_forward_layers_hidden_logits(case: tuple) -> None:
    model, g = case
    with torch.no_grad():
        hidden, layers = model.slow(g["input_values"][None], return_layers=True)
        for i, out in enumerate(layers):
            torch.testing.assert_close(out[0], g["slow_layer_outputs"][i], atol=ATOL, rtol=RTOL)
        torch.testing.assert_close(hidden[0], g["slow_hidden_normed"], atol=ATOL, rtol=RTOL)
        torch.testing.assert_close(model.slow.logits(hidden)[0], g["slow_logits"], atol=ATOL, rtol=RTOL)


def test_cached_prefill_in_two_pieces_matches_full_forward(case: tuple) -> None:
    model, g = case
    values = g["input_values"][None]
    t = values.shape[-1]
    slow_cache, _ = model.allocate_caches(1, 64)
    with torch.no_grad():
        a = model.slow(values[..., :19], input_pos=torch.arange(19)[None], cache=slow_cache, kv_len=64)
        b = model.slow(values[..., 19:], input_pos=torch.arange(19, t)[None], cache=slow_cache, kv_len=64)
    torch.testing.assert_close(torch.cat([a, b], 1)[0], g["slow_hidden_normed"], atol=ATOL, rtol=RTOL)


def test_training_forward(case: tuple) -> None:
    model, g = case
    with torch.no_grad():
        out = model.forward_train(g["input_values"][None], g["train_labels"][None])
    torch.testing.assert_close(out.token_logits[0], g["train_token_logits"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out.token_logits[0], g["slow_logits_train_path"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out.codebook_logits, g["train_codebook_logits"], atol=ATOL, rtol=RTOL)


def test_fast_ar_step_by_step(case: tuple) -> None:
    model, g = case
    hidden, codes = g["fast_input_hidden"], g["fast_input_codes"]
    _, fast_cache = model.allocate_caches(hidden.shape[0])
    with torch.no_grad():
        steps = [model.fast.step(model.fast.project_in(hidden).unsqueeze(1), torch.tensor([0]), fast_cache)]
        for k in range(1, 10):
            steps.append(
                model.fast.step(model.fast.embeddings(codes[:, k - 1 : k]), torch.tensor([k]), fast_cache)
            )
    torch.testing.assert_close(torch.stack(steps, 1), g["fast_logits"], atol=ATOL, rtol=RTOL)
