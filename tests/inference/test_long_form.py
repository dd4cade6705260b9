"""Text -> prompt -> greedy codes end to end, against the reference's prompt goldens (model lm_a)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2tts.checkpoint import load_checkpoint
from s2tts.errors import PromptTooLongError
from s2tts.inference.long_form import generate_long
from s2tts.inference.params import SamplingParams
from s2tts.text.prompt import Reference

PARITY = Path(__file__).parents[1] / "data" / "parity"
GREEDY = SamplingParams(top_k=1, max_new_tokens=4)
MULTI = "<|speaker:0|>Hi there.<|speaker:1|>Hello!"
CASES = {
    "i_no_reference": ("Hello world.", [], 512, 1),
    "ii_one_reference": ("Hello world.", [("Reference words.", "ref0_codes")], 512, 1),
    "iii_two_references_multispeaker": (
        MULTI,
        [("First voice.", "ref0_codes"), ("Second voice.", "ref1_codes")],
        512,
        1,
    ),
    "iv_inline_tags": ("[whisper] quietly now [laugh]", [], 512, 1),
    "v_iterative_two_batches": (
        MULTI,
        [("First voice.", "ref0_codes"), ("Second voice.", "ref1_codes")],
        16,
        2,
    ),
}


@pytest.fixture(scope="module")
def checkpoint():
    return load_checkpoint(PARITY / "lm_a")


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_to_codes_matches_reference(checkpoint, name: str) -> None:
    goldens = load_file(str(PARITY / "prompts.safetensors"))
    text, refs, chunk_length, batches = CASES[name]
    references = [Reference(t, goldens[key]) for t, key in refs]
    codes = generate_long(
        checkpoint.model, checkpoint.prompt_builder(), text, references, GREEDY, chunk_length
    )
    expected = torch.cat([goldens[f"{name}_b{k}_codes"] for k in range(batches)], dim=1)
    assert torch.equal(codes, expected)


def test_prompt_that_cannot_fit_is_an_error(checkpoint) -> None:
    builder = checkpoint.prompt_builder(max_prompt_len=40)
    with pytest.raises(PromptTooLongError):
        generate_long(
            checkpoint.model,
            builder,
            "A sentence that is far too long for a forty-token context.",
            [],
            GREEDY,
        )
