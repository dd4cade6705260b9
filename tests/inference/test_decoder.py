"""The one decode stepper: budget rule, buckets, log-probs, batch independence, compile capture."""

from __future__ import annotations

import pytest
import torch

from s2tts.checkpoint import random_model
from s2tts.errors import PromptTooLongError
from s2tts.inference.decoder import Decoder, batch_buckets, frame_budget, length_buckets
from s2tts.inference.generate import generate_batch, generate_codes
from s2tts.inference.params import SamplingParams
from s2tts.models.config import DualARConfig


@pytest.fixture(scope="module")
def model():
    return random_model(DualARConfig.preset("tiny"), seed=0)


def _prompt(seed: int, length: int = 12) -> torch.Tensor:
    prompt = torch.zeros(11, length, dtype=torch.long)
    prompt[0] = torch.randint(0, 200, (length,), generator=torch.Generator().manual_seed(seed))
    return prompt


def test_budget_rule_counts_the_prefill_step() -> None:
    assert frame_budget(100, 20, SamplingParams(max_new_tokens=10)) == 9
    assert frame_budget(100, 20, SamplingParams(max_new_tokens=0)) == 80
    assert frame_budget(100, 95, SamplingParams(max_new_tokens=10)) == 5
    with pytest.raises(PromptTooLongError):
        frame_budget(100, 100, SamplingParams())


def test_buckets() -> None:
    assert batch_buckets(1) == [1]
    assert batch_buckets(8) == [1, 2, 4, 8]
    assert batch_buckets(6) == [1, 2, 4, 6]
    assert length_buckets(1024) == [256, 512, 1024]
    assert length_buckets(600) == [256, 512, 600]
    assert length_buckets(100) == [100]


def test_logprobs_are_those_of_the_drawn_tokens(model) -> None:
    """With nothing filtered (top_k >= vocabulary, top_p 1, temperature 1) the log-probability
    of each drawn token is its plain log-softmax over the frame's logits."""
    params = SamplingParams(top_k=5000, top_p=1.0, temperature=1.0, use_ras=False)
    decoder = Decoder(model, 1, 64)
    decoder.open(0, params, torch.Generator().manual_seed(3))
    prompt = _prompt(0)
    with torch.inference_mode():
        decoder.prefill(0, prompt)
        out = decoder.frame([prompt.shape[1]], want_logits=True)
    assert out.slow_logits is not None and out.fast_logits is not None
    head = decoder.head
    main_index = out.tokens - head.semantic_begin_id  # a semantic token (no <|im_end|> here)
    expected = [torch.log_softmax(out.slow_logits, -1).gather(1, main_index[:, None])[:, 0]]
    for k in range(1, 10):
        logp = torch.log_softmax(out.fast_logits[:, k - 1].float(), -1)
        expected.append(logp.gather(1, out.codes[:, k : k + 1])[:, 0])
    torch.testing.assert_close(out.logprobs, torch.stack(expected, 1), atol=1e-4, rtol=1e-4)
    # Greedy draws are certain.
    decoder.open(0, SamplingParams(top_k=1), None)
    with torch.inference_mode():
        decoder.prefill(0, prompt)
        assert torch.equal(decoder.frame([prompt.shape[1]]).logprobs, torch.zeros(1, 10))


def test_a_seeded_row_is_the_same_alone_or_batched(model) -> None:
    params = SamplingParams(max_new_tokens=9, min_new_tokens=9)
    alone = generate_codes(model, _prompt(1), params, torch.Generator().manual_seed(5))
    batched = generate_batch(
        model,
        [_prompt(2, 7), _prompt(1), _prompt(3, 20)],
        [params, params, SamplingParams(top_k=50, temperature=1.3)],
        [
            torch.Generator().manual_seed(6),
            torch.Generator().manual_seed(5),
            torch.Generator().manual_seed(7),
        ],
    )
    assert alone.shape == (10, 8)
    assert torch.equal(batched[1], alone)
    assert not torch.equal(batched[0], alone[:, : batched[0].shape[1]])


@pytest.mark.slow
def test_compiled_frame_is_one_graph_per_bucket(model) -> None:
    """torch.compile(decode_frame, fullgraph=True) captures each bucket once (dynamo's counters:
    no graph breaks, no recompiles after warm-up) and computes what eager does. The dynamo-only
    "eager" backend keeps this fast; the engine test compiles with inductor."""
    from torch._dynamo.utils import counters

    params = [SamplingParams(), SamplingParams(top_k=10, temperature=0.5)]
    before = counters["stats"]["unique_graphs"]
    breaks = sum(counters["graph_break"].values())
    compiled = Decoder(model, 2, 256, compile=True, compile_backend="eager")
    eager = Decoder(model, 2, 256)
    with torch.inference_mode():
        assert compiled.warmup() == 2
        warmed = counters["stats"]["unique_graphs"]
        assert warmed - before == 2
        for decoder in (compiled, eager):
            for row in range(2):
                decoder.open(row, params[row], torch.Generator().manual_seed(row))
                decoder.prefill(row, _prompt(row, 10 + row))
        outs = []
        for step in range(6):
            rows = 1 if step % 3 == 2 else 2  # batch 1 and 2: both buckets, no new graph
            positions = [10 + step, 11 + step][:rows]
            outs.append((compiled.frame(positions), eager.frame(positions)))
    assert counters["stats"]["unique_graphs"] == warmed
    assert sum(counters["graph_break"].values()) == breaks
    for a, b in outs:
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.codes, b.codes)
        torch.testing.assert_close(a.hidden, b.hidden)
