"""Length-grouped batches: the same samples as the step sampler's, less padding, a pure function of
the step, and a training run that resumes exactly with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from s2tts.errors import TrainConfigError
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.data import StepSampler
from s2tts.training.lm.length_groups import LengthGroupedSampler
from s2tts.training.lm.recipe import train_lm
from s2tts.training.run_config import load_config

N, BATCH = 97, 4
# Lengths with the spread of the speech corpus's samples (150 to 1,500 tokens), fixed by a seed.
LENGTHS = torch.randint(150, 1500, (N,), generator=torch.Generator().manual_seed(1)).tolist()


def _length(i: int, epoch: int) -> int:
    return LENGTHS[i]


def _grouped(group_steps: int, accum: int = 1, world: int = 1) -> LengthGroupedSampler:
    return LengthGroupedSampler(StepSampler(N, BATCH, accum, world, seed=3), group_steps, _length, seed=3)


def _padded(batch: list[tuple[int, int]]) -> int:
    return len(batch) * max(LENGTHS[i] for i, _ in batch)


@pytest.mark.parametrize(("accum", "world"), [(1, 1), (2, 1), (1, 2), (2, 3)])
def test_a_group_hands_out_the_base_samplers_samples_each_once(accum: int, world: int) -> None:
    base = StepSampler(N, BATCH, accum, world, seed=3)
    grouped = _grouped(8, accum, world)
    for group in (0, 5):  # group 5 crosses into the second epoch
        steps = range(group * 8, group * 8 + 8)
        want = [p for s in steps for m in range(accum) for r in range(world) for p in base.positions(s, m, r)]
        got = [
            p for s in steps for m in range(accum) for r in range(world) for p in grouped.positions(s, m, r)
        ]
        assert sorted(got) == sorted(want) and len(set(got)) == len(got)
        assert all(
            len(grouped.positions(s, m, r)) == BATCH
            for s in steps
            for m in range(accum)
            for r in range(world)
        )


def test_grouped_batches_are_padded_far_less_than_random_ones() -> None:
    base, grouped = StepSampler(N, BATCH, 1, 1, seed=3), _grouped(16)
    steps = range(64)
    random_pad = sum(_padded(base.positions(s, 0, 0)) for s in steps)
    grouped_pad = sum(_padded(grouped.positions(s, 0, 0)) for s in steps)
    real = sum(LENGTHS[i] for s in steps for i, _ in base.positions(s, 0, 0))
    assert 1 - real / random_pad > 0.25  # random batches of 4: a third of the positions are padding
    assert 1 - real / grouped_pad < 0.06


def test_positions_are_a_pure_function_of_the_step_and_the_order_is_shuffled() -> None:
    first = _grouped(8)
    run = [first.positions(s, 0, 0) for s in range(24)]
    fresh = _grouped(8)  # a resumed run asks for step 13 first
    assert fresh.positions(13, 0, 0) == run[13]
    assert [fresh.positions(s, 0, 0) for s in range(24)] == run
    longest = [max(LENGTHS[i] for i, _ in b) for b in run[:8]]
    assert longest != sorted(longest)  # not handed out shortest first
    assert _grouped(1).positions(5, 0, 0) == StepSampler(N, BATCH, 1, 1, seed=3).positions(5, 0, 0)


BASE = [
    "device=cpu", "threads=1", "model.preset=tiny", "model.codec_preset=tiny",
    "data.synthetic.speakers=2", "data.synthetic.utterances_per_speaker=6", "data.val_fraction=0.0",
    "data.synthetic.max_words=9", "data.length_group_steps=3", "batch_size=2", "optim.lr=3e-3",
    "optim.schedule.warmup_steps=2", "optim.schedule.total_steps=8", "export_on_finish=false",
]  # fmt: skip


def test_training_with_length_groups_resumes_exactly(tmp_path: Path) -> None:
    def cfg(out: Path, *extra: str) -> LMRunConfig:
        return load_config(LMRunConfig, None, [f"out_dir={out}", *BASE, *extra])

    straight = train_lm(cfg(tmp_path / "a", "steps=6", "save_every=2"))
    train_lm(cfg(tmp_path / "b", "steps=4", "save_every=2"))  # stops inside the second group
    resumed = train_lm(cfg(tmp_path / "b", "steps=6", "save_every=2"))
    a = Checkpointer.read(Path(straight["checkpoint"]))["objects"]["model"]
    b = Checkpointer.read(Path(resumed["checkpoint"]))["objects"]["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]
    random_batches = train_lm(cfg(tmp_path / "c", "steps=6", "save_every=6", "data.length_group_steps=1"))
    c = Checkpointer.read(Path(random_batches["checkpoint"]))["objects"]["model"]
    assert any(not torch.equal(a[name], c[name]) for name in a)  # the trainer batches by the setting


def test_a_group_of_less_than_one_step_is_a_config_error() -> None:
    with pytest.raises(TrainConfigError, match="length_group_steps"):
        load_config(LMRunConfig, None, ["data.length_group_steps=0"])
