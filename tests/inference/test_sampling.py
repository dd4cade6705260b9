from __future__ import annotations

import pytest
import torch

from s2tts.errors import SamplingError
from s2tts.inference.params import SamplingParams
from s2tts.inference.sampling import RowSampling, filtered_probs, sample


def _reference_kept(logits: torch.Tensor, top_k: int, top_p: float) -> set[int]:
    """Kept set by a full sort, as the reference computes it."""
    order = torch.argsort(logits, descending=True)
    mass = torch.softmax(logits[order], -1).cumsum(-1)
    remove = (mass > top_p) | (torch.arange(len(order)) >= top_k)
    remove[0] = False
    return {int(i) for i in order[~remove]}


@pytest.mark.parametrize(("top_k", "top_p"), [(30, 0.8), (5, 1.0), (100, 0.3), (1, 0.9)])
def test_kept_set_matches_full_sort(top_k: int, top_p: float) -> None:
    logits = torch.randn(3, 200, generator=torch.Generator().manual_seed(1)) * 3
    rs = RowSampling.from_params([SamplingParams(top_k=top_k, top_p=top_p)] * 3, "cpu")
    probs, idx = filtered_probs(logits, rs)
    for b in range(3):
        kept = {int(i) for i, p in zip(idx[b], probs[b], strict=True) if p > 0}
        assert kept == _reference_kept(logits[b], top_k, top_p)
        assert probs[b].sum().item() == pytest.approx(1.0, abs=1e-5)


def test_temperature_applies_after_filtering() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0, -5.0]])
    rs = RowSampling.from_params([SamplingParams(top_k=3, top_p=1.0, temperature=0.5)], "cpu")
    probs, idx = filtered_probs(logits, rs)
    expected = torch.softmax(torch.tensor([2.0, 1.0, 0.0]) / 0.5, -1)
    torch.testing.assert_close(probs[0], expected)
    assert idx[0].tolist() == [0, 1, 2]


def test_greedy_is_argmax_and_seeded_draws_repeat() -> None:
    logits = torch.randn(4, 50)
    greedy = RowSampling.from_params([SamplingParams(top_k=1)] * 4, "cpu")
    assert torch.equal(sample(logits, greedy, [None] * 4), logits.argmax(-1))
    rs = RowSampling.from_params([SamplingParams(top_k=50, top_p=1.0, temperature=1.0)] * 4, "cpu")
    a = sample(logits, rs, [torch.Generator().manual_seed(s) for s in range(4)])
    b = sample(logits, rs, [torch.Generator().manual_seed(s) for s in range(4)])
    assert torch.equal(a, b)


def test_row_draws_do_not_depend_on_other_rows() -> None:
    logits = torch.randn(2, 64, generator=torch.Generator().manual_seed(3))
    alone = RowSampling.from_params([SamplingParams(top_k=20, top_p=1.0, temperature=1.5)], "cpu")
    mixed = RowSampling.from_params(
        [SamplingParams(top_k=20, top_p=1.0, temperature=1.5), SamplingParams(top_k=60, top_p=1.0)], "cpu"
    )
    solo = sample(logits[:1], alone, [torch.Generator().manual_seed(9)])
    both = sample(logits, mixed, [torch.Generator().manual_seed(9), torch.Generator().manual_seed(1)])
    assert solo[0] == both[0]


def test_sampling_follows_the_distribution() -> None:
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    rs = RowSampling.from_params([SamplingParams(top_k=3, top_p=1.0, temperature=1.0)], "cpu")
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([sample(logits, rs, [gen]) for _ in range(3000)])
    freq = torch.bincount(draws.flatten(), minlength=3).float() / 3000
    torch.testing.assert_close(freq, torch.tensor([0.6, 0.3, 0.1]), atol=0.03, rtol=0)


@pytest.mark.parametrize(
    "kwargs", [{"top_p": 0.0}, {"top_p": 1.5}, {"temperature": 0.0}, {"top_k": 0}, {"max_new_tokens": -1}]
)
def test_bad_params_are_typed_errors(kwargs: dict) -> None:
    with pytest.raises(SamplingError):
        SamplingParams(**kwargs)
