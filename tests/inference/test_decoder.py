"""The one decode stepper: budget rule, buckets, log-probs, batch independence, compile capture,
and the stepping rules every caller shares (positions, budget, stop, compaction)."""

from __future__ import annotations

import pytest
import torch

from s2tts.checkpoint import random_model
from s2tts.errors import PromptTooLongError
from s2tts.inference.decoder import Decoder, RowState, batch_buckets, frame_budget, length_buckets
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


def test_the_stop_rule() -> None:
    """A continuing frame counts and moves the position on; the frame that spends the budget
    counts and ends the batch where it is (the next prefill rewrites its column); <|im_end|> ends
    it without counting; an ended row's later frames count for nothing."""
    row = RowState(position=10, budget=2, done=False)
    assert row.advance(eos=False) == (True, False) and row.position == 11
    assert row.advance(eos=False) == (True, True) and row.done and row.position == 11
    assert row.advance(eos=False) == (False, False) and row.produced == 2
    row = RowState(position=10, budget=5, done=False)
    assert row.advance(eos=True) == (False, True) and row.done and row.produced == 0
    assert row.position == 10


@torch.inference_mode()
def test_start_sets_the_budget_from_the_rows_own_settings_and_a_limit(model) -> None:
    decoder = Decoder(model, 2, 64)
    decoder.open(0, SamplingParams(max_new_tokens=10), None)
    decoder.prefill(0, _prompt(0, 12))
    assert decoder.position(0) == 12
    assert decoder.start(0) == 9  # max_new_tokens counts the prefill step
    assert decoder.start(0, limit=4) == 4
    decoder.open(1, SamplingParams(max_new_tokens=0), None)
    decoder.prefill(1, _prompt(1, 60))
    assert decoder.start(1) == 4  # until the cache (64 positions) is full
    decoder.open(1, SamplingParams(max_new_tokens=1), None)
    decoder.prefill(1, _prompt(1, 8))
    assert decoder.start(1) == 0 and decoder.slots[1].done  # no room: ended before its first frame


def test_rows_stop_at_their_own_budgets(model) -> None:
    decoder = Decoder(model, 2, 64)
    budgets = [3, 5]
    counted, ended = [0, 0], [0, 0]
    with torch.inference_mode():
        for row, n in enumerate(budgets):  # <|im_end|> held off: only the budget stops them
            decoder.open(row, SamplingParams(max_new_tokens=n + 1, min_new_tokens=n + 1), None)
            decoder.prefill(row, _prompt(row, 10 + row))
            decoder.start(row)
        while decoder.running(2):
            step = decoder.step(2)
            for b in range(2):
                counted[b] += step.counted[b]
                ended[b] += step.ended[b]
    assert counted == budgets and ended == [1, 1]
    # Each position moved on once per frame that continued its batch.
    assert [decoder.position(b) for b in range(2)] == [10 + 3 - 1, 11 + 5 - 1]


def test_a_moved_row_continues_as_if_it_had_not_moved(model) -> None:
    """Swap-remove compaction (the engine's release) carries a row's cache, sampling state,
    generator and stepping state: its codes are those it makes alone."""
    params = SamplingParams(max_new_tokens=9, min_new_tokens=9)
    alone = generate_codes(model, _prompt(2, 20), params, torch.Generator().manual_seed(4))
    assert alone.shape[1] == 8
    decoder = Decoder(model, 2, 64)
    frames = []
    with torch.inference_mode():
        for row, (prompt, seed) in enumerate([(_prompt(1), 3), (_prompt(2, 20), 4)]):
            decoder.open(row, params, torch.Generator().manual_seed(seed))
            decoder.prefill(row, prompt)
            decoder.start(row)
        for _ in range(3):
            frames.append(decoder.step(2).frame.codes[1])
        decoder.move(1, 0)  # row 0 leaves; the last row takes its place
        while decoder.running(1):
            step = decoder.step(1)
            if step.counted[0]:
                frames.append(step.frame.codes[0])
    assert torch.equal(torch.stack(frames, 1), alone)
