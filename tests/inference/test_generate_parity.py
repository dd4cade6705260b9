"""Greedy generation reproduces the reference's golden generations exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2tts.inference.generate import generate_batch, generate_codes, generate_frames
from s2tts.inference.params import SamplingParams
from s2tts.models.weights import load_model

GREEDY = SamplingParams(top_k=1, top_p=0.9, temperature=1.0, max_new_tokens=12)


@pytest.fixture(scope="module", params=["lm_a", "lm_b"])
def case(request: pytest.FixtureRequest) -> tuple:
    root = Path(__file__).parents[1] / "data" / "parity"
    return load_model(root / request.param), load_file(str(root / f"{request.param}_golden.safetensors"))


@pytest.mark.parametrize("gen", ["g0", "g1"])
def test_greedy_codes_and_step_logits(case: tuple, gen: str) -> None:
    model, g = case
    cfg = model.config
    logits: dict[str, list[torch.Tensor]] = {}
    frames = list(generate_frames(model, g[f"gen_{gen}_b0_prompt_values"], GREEDY, logits_out=logits))
    codes = torch.stack(frames, 1) if frames else torch.zeros(10, 0, dtype=torch.long)
    assert torch.equal(codes, g[f"gen_{gen}_b0_codes"])
    # Step logits: the constrained set is the semantic rows plus <|im_end|>.
    biased = g[f"gen_{gen}_b0_step_slow_logits_biased"]
    allowed = torch.cat(
        [biased[:, cfg.semantic_begin_id : cfg.semantic_end_id + 1], biased[:, cfg.eos_token_id :][:, :1]], 1
    )
    steps = torch.cat(logits["slow"])
    torch.testing.assert_close(steps, allowed[: len(steps)], atol=1e-5, rtol=1e-4)
    fast = torch.cat(logits["fast"])
    torch.testing.assert_close(fast, g[f"gen_{gen}_b0_step_fast_logits"][: len(fast)], atol=1e-5, rtol=1e-4)


def test_stop_rule_drops_im_end_frame(case: tuple) -> None:
    model, g = case
    generated = g["gen_g0_b0_generated_values"]
    stopped = bool(generated[0, -1] == model.config.eos_token_id)
    codes = generate_codes(model, g["gen_g0_b0_prompt_values"], GREEDY)
    assert codes.shape[1] == generated.shape[1] - 1
    assert stopped == (codes.shape[1] < GREEDY.max_new_tokens - 1)


def test_batched_greedy_matches_goldens(case: tuple) -> None:
    model, g = case
    prompts = [g["gen_g0_b0_prompt_values"], g["gen_g1_b0_prompt_values"]]
    out = generate_batch(model, prompts, GREEDY)
    assert torch.equal(out[0], g["gen_g0_b0_codes"])
    assert torch.equal(out[1], g["gen_g1_b0_codes"])
