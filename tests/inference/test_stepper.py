"""The stepping rules the Decoder owns for every caller: positions, budget, stop, compaction."""

from __future__ import annotations

import pytest
import torch

from s2tts.checkpoint import random_model
from s2tts.inference.decoder import Decoder, RowState
from s2tts.inference.generate import generate_codes
from s2tts.inference.params import SamplingParams
from s2tts.models.config import DualARConfig


@pytest.fixture(scope="module")
def model():
    return random_model(DualARConfig.preset("tiny"), seed=0)


def _prompt(seed: int, length: int = 12) -> torch.Tensor:
    prompt = torch.zeros(11, length, dtype=torch.long)
    prompt[0] = torch.randint(0, 200, (length,), generator=torch.Generator().manual_seed(seed))
    return prompt


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
